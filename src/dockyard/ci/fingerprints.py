"""Fingerprints of archived files (`archiveArtifacts artifacts: '...', fingerprint: true`), as
Jenkins keeps them: a file's fingerprint is its MD5; one record per MD5 names the build that
produced it first (`original`) and every build that archived it since (`usage`, per job, as
Jenkins' ranges). Records live at DATA/ci/.fingerprints/<2>/<2>/<28>.json (no job name starts
with a dot), updated under a file lock; each build lists its own at DATA/ci/<job>/<n>/fingerprints.json.

The API shapes are Jenkins' (`hudson.model.Fingerprint`): `/fingerprint/<md5>/api/json`, and the
build's `fingerprint` list (api/json at depth 1 or more) plus its FingerprintAction."""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from dockyard.store import atomic_write_text

__all__ = [
    "build_fingerprints",
    "fingerprint_action",
    "fingerprint_json",
    "load_record",
    "md5_of",
    "record_fingerprints",
]

MD5 = re.compile(r"[0-9a-f]{32}")
FINGERPRINT_CLASS = "hudson.model.Fingerprint"
BUILD_FILE = "fingerprints.json"


def md5_of(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _record_path(ci_dir: Path, md5: str) -> Path:
    return ci_dir / ".fingerprints" / md5[:2] / md5[2:4] / f"{md5[4:]}.json"


def record_fingerprints(ci_dir: Path, build_dir: Path, job: str, number: int, files: dict[str, str]) -> None:
    """Records `files` ({relative path: md5}) as archived by `job` #`number`: this build becomes the
    original of fingerprints seen for the first time, and a user of all of them."""
    own = _read(build_dir / BUILD_FILE) or {}
    own.update(files)
    atomic_write_text(build_dir / BUILD_FILE, json.dumps(own, sort_keys=True))
    for name, md5 in files.items():
        path = _record_path(ci_dir, md5)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # parallel branches and builds archive at once
            record = _read(path) or {
                "hash": md5, "fileName": name.rsplit("/", 1)[-1],
                "original": {"name": job, "number": number}, "timestamp": time.time(), "usage": {},
            }
            # each job's own first archiving: what a caller who may not see the original is shown
            record.setdefault("jobs", {}).setdefault(
                job, {"number": number, "fileName": name.rsplit("/", 1)[-1], "timestamp": time.time()})
            used = record["usage"].setdefault(job, [])
            if number not in used:
                used.append(number)
                used.sort()
            atomic_write_text(path, json.dumps(record))


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_record(ci_dir: Path, md5: str) -> dict[str, Any] | None:
    if not MD5.fullmatch(md5):
        return None
    record = _read(_record_path(ci_dir, md5))
    return record if isinstance(record, dict) else None


def build_fingerprints(build_dir: Path) -> dict[str, str]:
    """{relative path: md5} of the files the build fingerprinted."""
    data = _read(build_dir / BUILD_FILE)
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _ranges(numbers: Iterable[int]) -> list[dict[str, int]]:
    """Jenkins' RangeSet: runs of consecutive build numbers, `end` exclusive."""
    out: list[dict[str, int]] = []
    for n in sorted(set(numbers)):
        if out and out[-1]["end"] == n:
            out[-1]["end"] = n + 1
        else:
            out.append({"start": n, "end": n + 1})
    return out


def fingerprint_json(record: dict[str, Any], visible: Callable[[str], bool]) -> dict[str, Any]:
    """A record as Jenkins renders a Fingerprint, with only the jobs `visible` to the caller. When
    the original build is in a job the caller may not see, the first archiving they may see stands
    in for it (its file name and time too): nothing tells them a hidden job archived the same
    bytes, when, or under what name (`usage` empty and `original` None: nothing is visible)."""
    usage = {job: numbers for job, numbers in sorted(record.get("usage", {}).items()) if visible(job)}
    original = record.get("original")
    default = {"fileName": record["fileName"], "timestamp": record["timestamp"]}  # records kept no "jobs"
    job = ""
    first: dict[str, Any] = {**default, "number": 0}
    if original and original["name"] in usage:
        job, first = original["name"], {**default, "number": original["number"]}
    elif usage:
        seen = record.get("jobs", {})
        firsts = {j: seen.get(j) or {**default, "number": min(numbers)} for j, numbers in usage.items()}
        job = min(firsts, key=lambda j: (firsts[j]["timestamp"], j))
        first = firsts[job]
    return {
        "_class": FINGERPRINT_CLASS,
        "fileName": first["fileName"],
        "hash": record["hash"],
        "original": {"name": job, "number": first["number"]} if job else None,
        "timestamp": int(first["timestamp"] * 1000),
        "usage": [{"name": name, "ranges": {"ranges": _ranges(numbers)}} for name, numbers in usage.items()],
        "facets": [],
    }


def fingerprint_action(files: dict[str, str]) -> dict[str, Any]:
    """The build's Fingerprinter$FingerprintAction in its `actions`."""
    return {"_class": "hudson.tasks.Fingerprinter$FingerprintAction", "records": dict(sorted(files.items()))}
