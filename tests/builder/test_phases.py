"""The build's phase timer (bench/builder.py --profile): off by default, exclusive when on."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from dockyard.builder import phases


def test_off_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(phases.ENV, raising=False)
    phases.start()
    assert phases.phase("RUN") is phases.phase("push")  # one shared no-op
    phases.finish()


def test_nested_phases_are_exclusive_and_written(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "profile.json"
    monkeypatch.setenv(phases.ENV, str(record))
    phases.start()
    phases.mark("first step")
    phases.mark("first step")  # only the first time counts
    with phases.phase("outer"):
        with phases.phase("inner"):
            pass
        worker = threading.Thread(target=lambda: phases.phase("thread").__enter__())
        worker.start()
        worker.join()
    phases.finish()
    data = json.loads(record.read_text())
    assert set(data["phases"]) == {"outer", "inner"}  # other threads do not count
    assert data["ended"] >= data["started"]
    assert list(data["marks"]) == ["first step"]
    assert 0 <= data["marks"]["first step"] <= data["ended"] - data["started"]
    assert phases.phase("x") is phases.phase("y")  # off again after finish
