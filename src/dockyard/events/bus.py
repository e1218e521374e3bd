"""A tiny synchronous publish/subscribe bus; handlers must be quick (enqueue, don't work)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """An untyped event: `kind` is a dotted name such as ``ci.status``; `data` is plain
    JSON-able values. (Pushes are the typed `PushEvent`.)"""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


class BusEvent(Protocol):
    """Anything with a `kind`: `Event`, or a typed event such as `PushEvent`."""

    @property
    def kind(self) -> str: ...


E = TypeVar("E", bound=BusEvent)
Handler = Callable[[Any], None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()

    def subscribe(self, kind: str, handler: Callable[[E], None]) -> None:
        """`handler` gets every event of `kind`, of the type that kind is published with
        (`PushEvent` for git.push / git.create / git.delete)."""
        with self._lock:
            self._handlers.setdefault(kind, []).append(handler)

    def publish(self, event: BusEvent) -> None:
        """Call every handler of `event.kind`; one failing handler never stops the others."""
        with self._lock:
            handlers = list(self._handlers.get(event.kind, ()))
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event handler for %s failed", event.kind)
