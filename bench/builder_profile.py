"""`bench/builder.py --profile`: where the C app's build time goes, phase by phase.

Three paths, each from a fresh pod (an empty cache dir; the remote cache in the registry
is the only warm thing, as in a Kubernetes build pod): cold (empty remote cache too),
no change, and a one-line code change. The executor runs with DOCKYARD_PROFILE (see
dockyard.builder.phases); start-up is the time from spawning the process to the build's
first act, exit the time from its last act to the process being reaped, "other" what the
timed phases do not cover. Medians over the rounds, each phase with its share of the
median total.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

FIXED = ("start-up", "imports", "parse", "context hashing", "cache lookups",
         "base resolution", "unpack", "RUN", "COPY", "layer write", "cache store wait", "push")
PATHS = ("cold", "no-change, new pod", "code-change, new pod")


def profiled_build(argv: list[str], env: dict[str, str], record: Path,
                   settle: Callable[[Path], None], work: Path) -> dict[str, float]:
    """Runs one executor build with profiling on; its phases (seconds), total included."""
    settle(work)
    record.unlink(missing_ok=True)
    started = time.time()
    result = subprocess.run(argv, capture_output=True, text=True,
                            env={**env, "DOCKYARD_PROFILE": str(record)})
    ended = time.time()
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{result.stdout}\n{result.stderr}")
    data = json.loads(record.read_text())
    phases = {name: float(seconds) for name, seconds in data["phases"].items()}
    phases["start-up"] = data["started"] - started
    if "first step" in data.get("marks", {}):  # not a phase: the wait before the first step
        phases["first step at"] = phases["start-up"] + data["marks"]["first step"]
    phases["exit"] = ended - data["ended"]
    total = ended - started
    timed = sum(v for k, v in phases.items() if k != "first step at")
    phases["other"] = max(0.0, total - timed)
    phases["total"] = total
    return phases


def profile_capp(executor: Callable[[Path, str, str], list[str]], env: dict[str, str],
                 change: Callable[[int], None], registry_host: str, work: Path,
                 settle: Callable[[Path], None], rounds: int) -> dict[str, list[dict[str, float]]]:
    """`rounds` rounds of the three paths; each round its own cache repository."""
    out: dict[str, list[dict[str, float]]] = {path: [] for path in PATHS}
    record = work / "profile.json"
    for round_ in range(rounds):
        repo = f"{registry_host}/bench/profile{round_}-dy"
        pods: list[Path] = []

        try:
            for path, tag, step in (("cold", "cold", 0), ("no-change, new pod", "same", 0),
                                    ("code-change, new pod", "change", 1)):
                change(step)
                pods.append(work / f"dy-profile-pod-{round_}-{len(pods)}")
                argv = executor(pods[-1], f"{repo}:{tag}", f"{repo}/cache")
                out[path].append(profiled_build(argv, env, record, settle, work))
        finally:
            for pod in pods:
                shutil.rmtree(pod, ignore_errors=True)
            subprocess.run(["sync"], check=False)
    return out


def print_profile(results: dict[str, list[dict[str, float]]]) -> None:
    for path, runs in results.items():
        if not runs:
            continue
        names = [n for n in FIXED if any(n in r for r in runs)]
        names += sorted({n for r in runs for n in r} - set(names)
                        - {"exit", "other", "total", "first step at"})
        names += ["exit", "other"]
        total = statistics.median(r["total"] for r in runs)
        print(f"\nprofile: capp {path} (median of {len(runs)}, total {total:.2f} s)")
        for name in names:
            seconds = statistics.median(r.get(name, 0.0) for r in runs)
            if seconds < 0.0005:
                continue
            print(f"  {name:22} {seconds:7.3f} s {100 * seconds / total:5.1f}%")
        first = [r["first step at"] for r in runs if "first step at" in r]
        if first:
            print(f"  (first step starts {statistics.median(first):.3f} s after the spawn)")


def help_startup(argv: list[str], env: dict[str, str], rounds: int = 5) -> float:
    """Median wall time of `dockyard executor --help` (interpreter, imports, flags)."""
    times = []
    for _ in range(rounds):
        started = time.monotonic()
        subprocess.run([*argv, "--help"], capture_output=True, env=env, check=True)
        times.append(time.monotonic() - started)
    return statistics.median(times)
