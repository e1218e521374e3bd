"""The parallel-stages workload of bench/builder.py (issue 16): several independent stages.

`PARTS` stages each compile one generated C file (`FUNCTIONS` functions, ~12 CPU-seconds of
`gcc -O2` each here: ~50 CPU-s in all, the scale of issue 16's C workload) on the same gcc
base as the C app; a link stage takes every object with `COPY --from`, and the final stage
is busybox + the static binary. Dockyard builds the independent stages at once (its default:
as many as the CPUs); `buildah bud` builds stages one after the other unless given `--jobs`,
and the bench runs it as its users do, with its default. Both are cold (empty cache dir /
storage), pull the base from the same registry and push there. Each round runs Dockyard
(default) and buildah (and, with `--par-jobs1`, Dockyard `--jobs 1`: what the overlap itself
gains) in an order rotated per round, and notes the machine's 1-minute load average before
each build (the machine is shared: the load is part of the figure).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path

PARTS = 4
FUNCTIONS = 1600  # ~12 CPU-s of gcc -O2 per part on this machine's CPUs

DOCKERFILE_PART = """FROM {gcc} AS part{k}
WORKDIR /src
COPY part{k}.c ./
RUN gcc -O2 -c part{k}.c -o part{k}.o
"""
DOCKERFILE_TAIL = """FROM {gcc} AS link
WORKDIR /src
{copies}
COPY main.c ./
RUN gcc -O2 -static main.c part*.o -o app && strip app

FROM {base}
COPY --from=link /src/app /usr/local/bin/app
CMD ["/usr/local/bin/app"]
"""

# (context, destination, cache dir, extra executor flags) -> seconds
DockyardCold = Callable[[Path, str, Path, list[str]], float]
# (context, destination, buildah root) -> seconds
BuildahCold = Callable[[Path, str, Path], float]
Row = tuple[str, float, float]


def part_source(k: int, functions: int) -> str:
    """C code that keeps gcc -O2 busy: many small functions with loops and switches."""
    out = [f"int part{k}(int x);\n"]
    for i in range(functions):
        out.append(
            f"static int f{k}_{i}(int x) {{ int s = {i}; for (int j = 0; j < x; j++) {{ "
            f"s += (j * {i + 3}) ^ (s >> {i % 7 + 1}); if (s % {i % 11 + 2} == {k}) s -= j; "
            f"switch (j & 3) {{ case 0: s ^= {i}; break; case 1: s += x; break; "
            f"default: s -= {k}; }} }} return s; }}\n")
    out.append(f"int part{k}(int x) {{ int s = 0;\n")
    out += [f"  s += f{k}_{i}(x + {i});\n" for i in range(functions)]
    out.append("  return s; }\n")
    return "".join(out)


def make_context(root: Path, gcc: str, base: str, parts: int = PARTS,
                 functions: int = FUNCTIONS) -> Path:
    context = root / "par"
    context.mkdir()
    for k in range(parts):
        (context / f"part{k}.c").write_text(part_source(k, functions))
    calls = " + ".join(f"part{k}(3)" for k in range(parts))
    (context / "main.c").write_text(
        "#include <stdio.h>\n"
        + "".join(f"int part{k}(int x);\n" for k in range(parts))
        + f'int main(void) {{ printf("parts: %d\\n", {calls}); return 0; }}\n')
    copies = "\n".join(f"COPY --from=part{k} /src/part{k}.o ./" for k in range(parts))
    (context / "Dockerfile").write_text(
        "".join(DOCKERFILE_PART.format(gcc=gcc, k=k) + "\n" for k in range(parts))
        + DOCKERFILE_TAIL.format(gcc=gcc, base=base, copies=copies))
    return context


def compare_parallel(context: Path, registry: str, work: Path, round_: int,
                     dockyard_cold: DockyardCold, buildah_cold: BuildahCold,
                     loads: list[float], sequential: bool = False) -> list[Row]:
    """One round: cold Dockyard (default jobs), cold buildah, and with `sequential` cold
    Dockyard --jobs 1."""
    name = f"par{round_}"
    runs: dict[str, Callable[[], float]] = {
        "dockyard": lambda: dockyard_cold(context, f"{registry}/bench/{name}-dy:cold",
                                          work / f"dy-cache-{name}", []),
        "dockyard-j1": lambda: dockyard_cold(context, f"{registry}/bench/{name}-dy1:cold",
                                             work / f"dy-cache-{name}-j1", ["--jobs=1"]),
        "buildah": lambda: buildah_cold(context, f"{registry}/bench/{name}-bh:cold",
                                        work / f"buildah-{name}"),
    }
    if not sequential:
        del runs["dockyard-j1"]
    order = list(runs)
    order = order[round_ % len(order):] + order[:round_ % len(order)]  # rotated per round
    seconds: dict[str, float] = {}
    try:
        for key in order:
            loads.append(os.getloadavg()[0])
            seconds[key] = runs[key]()
    finally:
        for path in (work / f"dy-cache-{name}", work / f"dy-cache-{name}-j1"):
            shutil.rmtree(path, ignore_errors=True)
        subprocess.run(["sync"], check=False)
    print(f"  round {round_ + 1} ({' -> '.join(order)}): "
          + ", ".join(f"{key} {seconds[key]:.1f} s" for key in order), flush=True)
    rows = [("par cold", seconds["dockyard"], seconds["buildah"])]
    if sequential:
        rows.append(("par cold, dockyard --jobs 1", seconds["dockyard-j1"], seconds["buildah"]))
    return rows


def load_note(loads: list[float], cpus: int) -> str:
    if not loads:
        return ""
    return (f"machine load (1-min average before each parallel-workload build, {cpus} CPUs): "
            f"min {min(loads):.1f}, median {statistics.median(loads):.1f}, max {max(loads):.1f}"
            " (shared with other work: buildah ran with its default, stages one at a time)")
