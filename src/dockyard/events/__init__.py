"""The in-process event bus: git pushes reach CI without polling or HTTP."""

from dockyard.events.bus import Event, EventBus

__all__ = ["Event", "EventBus"]
