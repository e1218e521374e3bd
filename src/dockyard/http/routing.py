"""Path parameters that cannot overflow: `{x:int}` matches at most 18 digits.

Starlette's `int` convertor accepts any number of digits; a 20-digit build number then reaches
SQLite, which cannot hold it (OverflowError, a 500). No id Dockyard hands out has 19 digits, so
such a path simply matches no route: 404. `small_int` is the same rule for a path segment or
query value read as text (`str.isdigit()` also accepts '²', which `int()` refuses).
"""

from __future__ import annotations

from starlette.convertors import IntegerConvertor, register_url_convertor

MAX_DIGITS = 18


class BoundedIntConvertor(IntegerConvertor):
    regex = f"[0-9]{{1,{MAX_DIGITS}}}"


def small_int(value: str) -> int | None:
    """`value` as a non-negative integer when it is 1-18 ASCII digits; None otherwise."""
    if value.isascii() and value.isdigit() and len(value) <= MAX_DIGITS:
        return int(value)
    return None


def bound_int_path_params() -> None:
    """Make `{x:int}` bounded; call before any route is built (the server does, first thing)."""
    register_url_convertor("int", BoundedIntConvertor())
