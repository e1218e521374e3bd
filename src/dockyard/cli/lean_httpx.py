"""Imported before httpx by the remote-control commands: httpx without its command-line tool.

httpx's package __init__ imports its CLI (click, and rich/pygments when installed), about a
third of httpx's import time, whenever click happens to be installed (uvicorn brings it).
`dockyard ci ...` and the other remote commands start a fresh process each time and never
use that CLI. A placeholder module makes httpx's optional import fall back; it is removed right after, so
an explicit `import httpx._main` still works.
"""

from __future__ import annotations

import sys
import types


def import_httpx_without_cli() -> None:
    if "httpx" in sys.modules:
        return
    placeholder = types.ModuleType("httpx._main")
    sys.modules.setdefault("httpx._main", placeholder)
    try:
        import httpx  # noqa: F401
    finally:
        if sys.modules.get("httpx._main") is placeholder:
            del sys.modules["httpx._main"]


import_httpx_without_cli()

import httpx as httpx  # noqa: E402  (re-exported: `from dockyard.cli.lean_httpx import httpx`)
