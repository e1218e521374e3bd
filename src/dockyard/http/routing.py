"""Path parameters that cannot overflow: `{x:int}` matches at most 18 digits.

Starlette's `int` convertor accepts any number of digits; a 20-digit build number then reaches
SQLite, which cannot hold it (OverflowError, a 500). No id Dockyard hands out has 19 digits, so
such a path simply matches no route: 404.
"""

from __future__ import annotations

from starlette.convertors import IntegerConvertor, register_url_convertor


class BoundedIntConvertor(IntegerConvertor):
    regex = "[0-9]{1,18}"


def bound_int_path_params() -> None:
    """Make `{x:int}` bounded; call before any route is built (the server does, first thing)."""
    register_url_convertor("int", BoundedIntConvertor())
