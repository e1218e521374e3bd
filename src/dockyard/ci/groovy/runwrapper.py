"""What `build job:` returns to a script: Jenkins' `RunWrapper` of the downstream build, read as
properties (`.result`, `.number`, `.absoluteUrl`...) or getters (`getResult()`), and compared
with `resultIsBetterOrEqualTo('UNSTABLE')` as currentBuild is."""

from __future__ import annotations

from typing import Any

from dockyard.ci.errors import Pos
from dockyard.ci.groovy.values import GroovyError

__all__ = ["RunWrapper"]

_ORDER = {"SUCCESS": 0, "UNSTABLE": 1, "FAILURE": 2, "NOT_BUILT": 3, "ABORTED": 4}


class RunWrapper(dict[str, Any]):
    """A finished downstream build (a read-only view: scripts cannot change it)."""

    def method(self, name: str, args: list[Any], pos: Pos) -> Any:
        if name.startswith("get") and not args:
            return self.get(name[3].lower() + name[4:])
        if len(args) != 1 or str(args[0]) not in _ORDER:
            raise GroovyError(f"{name}() takes one of {', '.join(_ORDER)}", pos)
        mine, other = _ORDER[str(self.get("result"))], _ORDER[str(args[0])]
        return mine <= other if name == "resultIsBetterOrEqualTo" else mine >= other
