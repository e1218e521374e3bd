"""Groovy's arithmetic operators on the subset's values: + - * / % intdiv ** with their meaning
on strings, lists, maps and numbers, within the size bounds."""

from __future__ import annotations

from typing import Any

from dockyard.ci.errors import Pos
from dockyard.ci.groovy.values import (
    MAX_ITEMS,
    MAX_STRING,
    GroovyError,
    LimitExceeded,
    equal,
    to_string,
    type_name,
)


def arith(rt: Any, op: str, a: Any, b: Any, pos: Pos) -> Any:
    """+ - * / % intdiv ** with Groovy's meaning on strings, lists, maps and numbers."""
    num = (int, float)
    if op == "+":
        if isinstance(a, str):
            s = a + to_string(b, MAX_STRING - len(a), pos)
            rt.charge(len(s), pos)
            return s
        if isinstance(a, list):
            out = a + (b if isinstance(b, list) else [b])
            _items(rt, len(out), pos)
            return out
        if isinstance(a, dict) and isinstance(b, dict):
            merged = {**a, **b}
            _items(rt, len(merged), pos)
            return merged
    if op == "-":
        if isinstance(a, list):
            drop = b if isinstance(b, list) else [b]
            return [x for x in a if not any(equal(x, d) for d in drop)]
        if isinstance(a, str) and isinstance(b, str):
            return a.replace(b, "", 1)
    if op == "*" and isinstance(a, str | list) and isinstance(b, int) and not isinstance(b, bool):
        size = len(a) * max(b, 0)
        if (isinstance(a, str) and size > MAX_STRING) or (isinstance(a, list) and size > MAX_ITEMS):
            raise LimitExceeded(
                f"{type_name(a)} * {b} would have {size} elements (at most"
                f" {MAX_STRING if isinstance(a, str) else MAX_ITEMS})",
                pos,
            )
        rt.charge(size, pos)
        return a * max(b, 0)
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, num) or not isinstance(b, num):
        raise GroovyError(
            f"No signature of method: {type_name(a)}.{op}({type_name(b)})",
            pos,
            "groovy.lang.MissingMethodException",
        )
    if op in ("/", "%", "intdiv") and b == 0:
        raise GroovyError("Division by zero", pos, "java.lang.ArithmeticException")
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        if abs(a) > 1e300 or abs(b) > 1e300:
            raise LimitExceeded("number too large", pos)
        return a * b
    if op == "/":
        if isinstance(a, int) and isinstance(b, int) and a % b == 0:
            return a // b
        return a / b
    if op == "%":
        return a % b if isinstance(a, int) and isinstance(b, int) else a % b
    if op == "intdiv":
        return int(a // b)
    if op == "**":
        if abs(b) > 64 or abs(a) > 1 << 32:
            raise LimitExceeded("exponent too large for Dockyard's Groovy subset", pos)
        return a**b
    raise GroovyError(f"unknown operator {op}", pos)


def _items(rt: Any, n: int, pos: Pos) -> None:
    if n > MAX_ITEMS:
        raise LimitExceeded(f"a list or map would have more than {MAX_ITEMS} elements", pos)
    rt.charge(8 * n, pos)
