"""The one way every `/api/v1` object and webhook payload prints a time, as Gitea does.

Gitea marshals Go `time.Time` values: RFC 3339 to the second (`2026-12-07T15:45:10Z`, or with
the zone's offset, `+01:00`), never fractional seconds. Clients parse exactly that: py-gitea's
`Util.convert_time` fails on `.727900`. Stored times (ours are UTC ISO strings with
microseconds) are shown in the server's local zone, as Gitea's `TimeStamp.AsTime` does; commit
times keep the offset git recorded, as Gitea's commit objects do.
"""

from __future__ import annotations

from datetime import UTC, datetime

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, what Gitea prints for "never"


def gitea_time(value: str | datetime | None, *, own_offset: bool = False) -> str:
    """`value` (an ISO 8601 string or datetime; naive means UTC) as Gitea prints it. Without
    `own_offset` it is converted to the server's zone; empty or None is Go's zero time."""
    if not value:
        return ZERO_TIME
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if not own_offset:
        when = when.astimezone()
    text = when.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # Gitea's zero TimeStamp (e.g. `archived_at`)
