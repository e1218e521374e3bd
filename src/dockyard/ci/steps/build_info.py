"""What a script sets on `currentBuild` beyond the result (displayName, description): kept in
the build's directory (DATA/ci/JOB/N/build-info.json) and shown by the Jenkins API as Jenkins
shows them (`displayName`, `fullDisplayName`, `description` of /job/NAME/N/api/json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dockyard.store import atomic_write_text

INFO = "build-info.json"


def load_build_info(build_root: Path) -> dict[str, Any]:
    try:
        data = json.loads((build_root / INFO).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    keys = ("displayName", "description")
    return {k: v for k, v in data.items() if k in keys and (v is None or isinstance(v, str))}


def save_build_info(build_root: Path, **values: str | None) -> None:
    info = {**load_build_info(build_root), **values}
    atomic_write_text(build_root / INFO, json.dumps(info))


def apply_build_info(data: dict[str, Any], build_root: Path, job_name: str) -> None:
    """A build's api/json with what its scripts set."""
    info = load_build_info(build_root)
    if info.get("displayName"):
        data["displayName"] = info["displayName"]
        data["fullDisplayName"] = f"{job_name} {info['displayName']}"
    if "description" in info:
        data["description"] = info["description"]
