"""`@lazy_dataclass`: a dataclass whose methods are generated when it is first instantiated.

`dataclasses.dataclass` compiles `__init__`, `__repr__`, `__eq__` (and, frozen, `__setattr__`,
`__delattr__`, `__hash__`) from source text for every class at import time: about a
millisecond per frozen class. `dockyard executor` starts in a fresh process per build and
imports ~30 Dockerfile instruction classes of which a build instantiates a handful, so the
generation is deferred: the class gets a placeholder `__init__` that turns it (and its lazy
bases, first) into the ordinary dataclass it declares, then constructs the instance. After
that the class is exactly what `@dataclass(...)` would have made.

Rules: every class in a hierarchy uses the same decorator (a plain `@dataclass` subclass of a
lazy class would not see the base's fields at import); code that inspects the *class*
before any instance exists calls `materialize(cls)` first (`dataclasses.fields(cls)`); and
the first instance of a class is made on one thread (materialize holds a lock, but a second
thread constructing the same class at that very moment could meet it half-made; the
builder parses Dockerfiles, which makes these instances, before it starts any thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, dataclass_transform, overload

_T = TypeVar("_T", bound=type)
_OPTIONS = "__lazy_dataclass_options__"
_LOCK = threading.RLock()


def materialize(cls: type) -> type:
    """Generate the dataclass methods of `cls` and of its lazy bases now (idempotent; two
    threads materializing at once are serialized)."""
    with _LOCK:
        for klass in reversed(cls.__mro__):
            options = klass.__dict__.get(_OPTIONS)
            if options is None:
                continue
            delattr(klass, "__init__")  # the placeholder; dataclass adds the real one
            dataclass(klass, **options)
            delattr(klass, _OPTIONS)
    return cls


def _placeholder_init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    materialize(cls)
    cls.__init__(self, *args, **kwargs)


@overload
def lazy_dataclass(cls: _T, /) -> _T: ...


@overload
def lazy_dataclass(*, frozen: bool = False, kw_only: bool = False, eq: bool = True,
                   repr: bool = True) -> Callable[[_T], _T]: ...


@dataclass_transform()
def lazy_dataclass(cls: Any = None, /, **options: Any) -> Any:
    """`@dataclass` / `@dataclass(frozen=True, kw_only=True, ...)`, generated on first use."""

    def wrap(klass: _T) -> _T:
        setattr(klass, _OPTIONS, options)
        klass.__init__ = _placeholder_init  # type: ignore[misc]
        return klass

    return wrap if cls is None else wrap(cls)
