"""Web UI benchmark: how long the server takes for every page a signed-in user can reach.

Starts a populated `dockyard up` (as tests/ui/test_links.py populates it: repositories with a
pushed Jenkinsfile and the build it triggered, images in the registry; plus one job with a
history of 1,000 builds), crawls every link from the home page as the administrator, and
reports each page's server-side time from the UI's `Server-Timing: app;dur=` header (session,
queries, rendering; the time in the process, not the client's) next to the client's
round-trip. The goal in issue 13's acceptance 2 is no page slower than 200 ms.

Run: .venv/bin/python bench/ui.py [--repos 3] [--builds 1000] [--rounds 3] [--max-pages 8000]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# run as a script: the repo root is not on sys.path before the line above
from tests.ci.conftest import Jenkins, api_token, inline_job_xml, unique  # noqa: E402
from tests.conftest import start_server  # noqa: E402
from tests.processes import stop_process  # noqa: E402
from tests.ui.helpers import insert_builds, sign_in  # noqa: E402
from tests.ui.test_links import HREF, SKIP, populate  # noqa: E402

TIMING = re.compile(r"app;dur=([0-9.]+)")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def crawl(client: httpx.Client, base: str, max_pages: int) -> dict[str, tuple[float, float]]:
    """path -> (server ms, client ms) for every page reachable from `/` by its links."""
    times: dict[str, tuple[float, float]] = {}
    queue = deque(["/"])
    while queue and len(times) < max_pages:
        path = queue.popleft()
        if path in times:
            continue
        started = time.perf_counter()
        r = client.get(path)
        client_ms = (time.perf_counter() - started) * 1000
        if r.status_code >= 400:
            raise SystemExit(f"{path} answered {r.status_code}")
        match = TIMING.search(r.headers.get("server-timing", ""))
        times[path] = (float(match.group(1)) if match else float("nan"), client_ms)
        if r.status_code != 200 or not r.headers.get("content-type", "").startswith("text/html"):
            continue
        for href in HREF.findall(r.text):
            target = urljoin(base + path, href.replace("&amp;", "&"))
            parts = urlsplit(target)
            if target.startswith(base) and not parts.path.startswith(SKIP) and "delete-tag" not in parts.path:
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    if queue:
        print(f"crawl stopped at --max-pages {max_pages} with {len(queue)} links left")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=int, default=3)
    parser.add_argument("--builds", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="crawls; a page's time is its median")
    parser.add_argument("--max-pages", type=int, default=8000)
    parser.add_argument("--slowest", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-ui-") as tmp:
        server = start_server(Path(tmp) / "data")
        try:
            jenkins = Jenkins(server, api_token(server))
            t0 = time.monotonic()
            for i in range(args.repos):
                work = Path(tmp) / f"work{i}"
                work.mkdir()
                populate(server, jenkins, work)
            long_job = unique("bench-history")
            jenkins.create(long_job, inline_job_xml(
                "pipeline { agent any\n stages { stage('A') { steps { sh 'true' } } } }"))
            insert_builds(server, long_job, args.builds)
            print(f"populated: {args.repos} repos with a pushed build each, {args.repos} images, "
                  f"job {long_job} with {args.builds} builds ({time.monotonic() - t0:.1f} s)")
            client = sign_in(server)
            rounds = [crawl(client, server.url, args.max_pages) for _ in range(args.rounds)]
        finally:
            stop_process(server.process, timeout=15)
    paths = sorted(set.intersection(*(set(r) for r in rounds)))
    server_ms = {p: statistics.median(r[p][0] for r in rounds) for p in paths}
    client_ms = {p: statistics.median(r[p][1] for r in rounds) for p in paths}
    values, round_trips = list(server_ms.values()), list(client_ms.values())
    print(f"\n{len(paths)} pages, {args.rounds} crawls each (median per page), signed in as the admin")
    print(f"{'':14}{'p50':>9}{'p95':>9}{'max':>9}")
    for label, xs in (("server ms", values), ("client ms", round_trips)):
        print(f"{label:14}{pct(xs, 0.5):9.1f}{pct(xs, 0.95):9.1f}{max(xs):9.1f}")
    print(f"\nslowest {args.slowest} pages (server ms, client ms):")
    for p in sorted(paths, key=lambda p: server_ms[p], reverse=True)[:args.slowest]:
        print(f"{server_ms[p]:9.1f}{client_ms[p]:9.1f}  {p}")
    over = [p for p in paths if server_ms[p] > 200]
    print(f"\npages over 200 ms server-side: {len(over)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
