"""Start-up cost, in one place: how Dockyard keeps `import dockyard.X` cheap.

Every build in CI starts a fresh `dockyard executor` process, so its start-up is part of every
build (an unchanged rebuild must stay under 0.3 s, most of it interpreter start). Three
mechanisms keep it there, and nothing else should be invented for the purpose:

1. Lazy package exports (this module): a package's `__init__` names its public API in a table
   and `lazy_exports` loads each name's module on first use. Importing `dockyard.oci` or
   `dockyard.builder` costs nothing until a name is touched; the server side (Starlette, the
   component classes) stays out of the executor's way. Type checkers see the names through an
   `if TYPE_CHECKING:` import block next to the table.
2. Dataclasses generated on first use (`dockyard.lazydataclass`): the ~30 Dockerfile instruction
   classes would cost ~1 ms each at import as ordinary dataclasses.
3. Whole-process commands such as `dockyard executor` end with `os._exit` once their output is
   flushed (`dockyard.cli.main`, `FAST_EXIT`): the interpreter's teardown of ~300 modules is
   skipped.

This module imports only the standard library.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package` that loads `exports[name]` on first use.

    A value is the module holding the name (`"dockyard.oci.digest"` for `sha256_digest`), or the
    module itself when its last component is the name (`"dockyard.oci.mutate"` for `mutate`).
    The loaded value is cached in the package's namespace, so later lookups are plain ones.
    """

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(where)
        value = module if where.rsplit(".", 1)[-1] == name else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
