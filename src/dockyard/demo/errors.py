"""The one error the demo raises: what failed and what to do about it."""

from __future__ import annotations


class DemoError(Exception):
    """A demo step failed; the message names the problem and, where known, the fix."""
