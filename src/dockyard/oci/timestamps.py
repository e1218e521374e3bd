"""RFC 3339 times as images carry them (`created`, `org.opencontainers.image.created`)."""

from __future__ import annotations

import datetime

# annotations that Dockyard's layer cache puts on each entry's manifest: the builder reads
# them to look entries up, the registry's gc reads them to expire old entries
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_CACHE_KEY = "org.dockyard.cache.key"


def parse_rfc3339(value: str | None) -> float | None:
    """RFC 3339 -> epoch seconds (None when absent or unreadable); nanoseconds are cut to
    microseconds, a missing zone is UTC."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if "." in text:  # Python wants at most 6 fraction digits
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits):]}"
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()
