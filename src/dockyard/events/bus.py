"""A tiny synchronous publish/subscribe bus; handlers must be quick (enqueue, don't work)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """`kind` is a dotted name such as ``git.push``; `data` is plain JSON-able values."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()

    def subscribe(self, kind: str, handler: Handler) -> None:
        with self._lock:
            self._handlers.setdefault(kind, []).append(handler)

    def publish(self, event: Event) -> None:
        """Call every handler of `event.kind`; one failing handler never stops the others."""
        with self._lock:
            handlers = list(self._handlers.get(event.kind, ()))
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event handler for %s failed", event.kind)
