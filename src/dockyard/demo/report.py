"""Step-by-step output: a numbered header per step, indented detail, the time each step took."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Reporter:
    def __init__(self, total: int, out: TextIO = sys.stdout) -> None:
        self.total = total
        self.number = 0
        self.out = out
        self.current = ""

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def detail(self, text: str) -> None:
        for line in text.rstrip("\n").splitlines() or [""]:
            self.say(f"    {line}")

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.number += 1
        self.current = title
        self.say(f"[{self.number}/{self.total}] {title}")
        started = time.monotonic()
        yield
        self.say(f"    ok ({time.monotonic() - started:.2f}s)")
