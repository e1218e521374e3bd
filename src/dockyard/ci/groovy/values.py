"""Runtime values of the Groovy subset and their Groovy meaning: truth, equality, ordering and
toString (bounded), plus the errors the interpreter raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.ci.errors import Pos, StepFailed
from dockyard.ci.groovy import ast as A

MAX_STRING = 1 << 20  # characters in one string value
MAX_ITEMS = 100_000  # elements of one list or map
# the agent's own variables a pipeline may read as ${PATH}, ${env.HOME}... (Jenkins' env.PATH)
AGENT_ENV = ("PATH", "HOME", "LANG", "USER", "LOGNAME", "TMPDIR", "TZ")


class GroovyError(StepFailed):
    """A run-time error of a script (null dereference, missing property, wrong type): catchable by
    try/catch in the script, as Groovy's exceptions are; otherwise it fails the build."""

    def __init__(self, message: str, pos: Pos | None, kind: str = "groovy.lang.GroovyRuntimeException"):
        super().__init__(f"{pos}: {message}" if pos else message)
        self.bare, self.kind = message, kind


class LimitExceeded(StepFailed):
    """A script went over one of its bounds; never catchable: the build fails with the message."""

    def __init__(self, message: str, pos: Pos | None) -> None:
        super().__init__(f"{pos}: {message}" if pos else message)


@dataclass
class ErrorValue:
    """The value a `catch (e)` sees: `e.message`, `e.getMessage()`, `"${e}"`."""

    kind: str
    message: str
    error: BaseException

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass
class MapEntry:
    key: Any
    value: Any


def error_value(e: BaseException) -> ErrorValue:
    if isinstance(e, GroovyError):
        return ErrorValue(e.kind, e.bare, e)
    return ErrorValue("hudson.AbortException", str(e), e)


def type_name(v: Any) -> str:
    if v is None:
        return "null"
    return {
        bool: "Boolean", int: "Integer", float: "Double", str: "String", list: "List", dict: "Map",
    }.get(type(v), type(v).__name__)  # fmt: skip


def truth(v: Any) -> bool:
    """Groovy truth: null, false, 0, '' and empty collections are false."""
    if v is None:
        return False
    if isinstance(v, bool | int | float | str | list | dict):
        return bool(v)
    return True


def equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    return bool(a == b)


def compare(a: Any, b: Any, pos: Pos | None) -> int:
    if a is None or b is None:
        return (a is not None) - (b is not None)
    if (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and not isinstance(a, bool) | isinstance(b, bool)
    ):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    raise GroovyError(
        f"cannot compare {type_name(a)} with {type_name(b)}", pos, "java.lang.ClassCastException"
    )


def to_string(v: Any, budget: int = MAX_STRING, pos: Pos | None = None) -> str:
    """Groovy's toString, stopped with LimitExceeded past `budget` characters (what is left of
    MAX_STRING for the string being built)."""
    out: list[str] = []
    size = 0

    def put(s: str) -> None:
        nonlocal size
        size += len(s)
        if size > budget:
            raise LimitExceeded(f"a string would be longer than {MAX_STRING} characters", pos)
        out.append(s)

    def walk(x: Any, depth: int) -> None:
        if depth > 64:
            raise LimitExceeded("a value nested deeper than 64 levels cannot be shown", None)
        if x is None:
            put("null")
        elif isinstance(x, bool):
            put("true" if x else "false")
        elif isinstance(x, str):
            put(x)
        elif isinstance(x, float):
            put(_double(x))
        elif isinstance(x, int):
            put(str(x))
        elif isinstance(x, list):
            put("[")
            for i, item in enumerate(x):
                if i:
                    put(", ")
                walk(item, depth + 1)
            put("]")
        elif isinstance(x, dict):
            if not x:
                put("[:]")
                return
            put("[")
            for i, (k, item) in enumerate(x.items()):
                if i:
                    put(", ")
                walk(k, depth + 1)
                put(":")
                walk(item, depth + 1)
            put("]")
        elif isinstance(x, MapEntry):
            walk(x.key, depth + 1)
            put("=")
            walk(x.value, depth + 1)
        else:
            put(str(x))

    walk(v, 0)
    return "".join(out)


def _double(x: float) -> str:
    if x != x or x in (float("inf"), float("-inf")):
        return {True: "NaN"}.get(x != x, "Infinity" if x > 0 else "-Infinity")
    if x == int(x) and abs(x) < 1e7:
        return f"{int(x)}.0"
    return repr(x).replace("e+", "E").replace("e-", "E-")


class Scope:
    def __init__(self, parent: Scope | None = None) -> None:
        self.vars: dict[str, Any] = {}
        self.parent = parent

    def find(self, name: str) -> Scope | None:
        s: Scope | None = self
        while s is not None:
            if name in s.vars:
                return s
            s = s.parent
        return None


@dataclass
class ClosureValue:
    node: A.Closure
    scope: Scope

    def __str__(self) -> str:
        return f"Closure@{self.node.pos.line}:{self.node.pos.col}"
