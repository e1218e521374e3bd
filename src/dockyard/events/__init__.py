"""The in-process event bus: git pushes reach CI without polling or HTTP.

`EventBus` dispatches on each event's `kind`; `Event(kind, data)` carries plain values (CI's
`ci.status`, `ci.build.*`); `PushEvent` is the typed push contract between git and CI.
"""

from dockyard.events.bus import BusEvent, Event, EventBus
from dockyard.events.push import CREATE, DELETE, PUSH, ZERO_SHA, PushEvent, RefChange

__all__ = ["BusEvent", "Event", "EventBus", "PushEvent", "PUSH", "CREATE", "DELETE", "ZERO_SHA",
           "RefChange"]
