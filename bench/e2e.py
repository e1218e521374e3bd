"""Push-to-image latency through the whole loop: `git push` to Dockyard's git server -> push event ->
CI job (the tutorial's job.xml and Jenkinsfile, Kaniko pod template) -> Dockyard's builder ->
both tags (`:<sha>` and `:latest`) resolvable in Dockyard's registry.

1. single: one repository, sequential pushes; time from `git push` returning until both tags
   resolve to the new image (base image already in the registry).
2. burst: 20 pushes across 5 repositories as fast as git allows; every push must be built (all
   20 `:<sha>` tags present, all builds SUCCESS), with queue wait and push->tags p50/p95.

The peer is the tutorial's own measurement (Jenkins + Kaniko on Kubernetes, C.5: 120 s per
commit); it cannot run offline here, so the ratio is against that published figure.

`--executor kubernetes`: the same loop with builds as pods on a real single-node cluster (the
one tests/k8s builds and starts, on a slot of its own, stopped at the end): Dockyard listens on
the cluster's gateway, its own image is the agent and executor image, `harbor-auth` is made with
`kubectl create secret docker-registry` as the tutorial does. One repository (notes-app, job
hello-kaniko, the tutorial's Jenkinsfile with only the registry address changed): the first push
(the node pulls Dockyard's image: "cold"), then --single pushes on Kubernetes, then the same
pushes on the local executor of the same server (the pod template annotated
`dockyard.io/executor: local`). Each push starts when the previous build has finished.

    .venv/bin/python bench/e2e.py [--single 5] [--repos 5] [--burst 20]
    .venv/bin/python bench/e2e.py --executor kubernetes [--single 10]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.builder.images import busybox_context  # noqa: E402

from bench import e2e_k8s  # noqa: E402
from bench.peers import start_dockyard  # noqa: E402

TUTORIAL = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tutorial"
PASSWORD = "bench-pass"
TUTORIAL_SECONDS = 120.0
ACCEPT = "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@example.com",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@example.com",
}


def run(*cmd: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    r = subprocess.run(cmd, cwd=cwd, env=env or GIT_ENV, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def dockyard(*args: str, env: dict[str, str] | None = None) -> str:
    return run(sys.executable, "-m", "dockyard", *args, env={**os.environ, **(env or {})})


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


LOCAL_ANNOTATION = "metadata:\n  annotations:\n    dockyard.io/executor: local\nspec:\n"


class Loop:
    def __init__(self, work: Path, host: str = "127.0.0.1", env: dict[str, str] | None = None) -> None:
        self.work = work
        self.peer = start_dockyard(work, PASSWORD, env=env, host=host)
        self.hp = self.peer.host_port
        self.url = f"http://{self.hp}"
        self.http = httpx.Client(base_url=self.url, auth=("admin", PASSWORD), timeout=30)
        self.data = work / "dockyard-data"

    def setup(self, names: list[tuple[str, str]]) -> list[Path]:
        """Repositories and jobs [(repo, job)]; each job pushes to the image named as itself."""
        dockyard("user", "--data-dir", str(self.data), "add", "bootcamp", "--password", "bootcamp")
        conn = ["--url", self.url, "--user", "admin", "--password", PASSWORD]
        dockyard(
            "credentials",
            *conn,
            "add-docker-registry",
            "harbor-auth",
            "--owner",  # bootcamp's namespace: the jobs of bootcamp's repositories bind it
            "bootcamp",
            "--server",
            self.hp,
            "--username",
            "admin",
            "--password",
            PASSWORD,
        )
        docker = self.work / "docker"
        docker.mkdir()
        auth = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        (docker / "config.json").write_text(json.dumps({"auths": {self.hp: {"auth": auth}}}))
        base = f"{self.hp}/library/busybox:1"
        rootfs = busybox_context(self.work / "base") / "rootfs"
        dockyard(
            "image",
            "import",
            "--rootfs",
            str(rootfs),
            "--destination",
            base,
            "--insecure",
            env={"DOCKER_CONFIG": str(docker)},
        )
        crumb_session = httpx.Client(base_url=self.url, auth=("admin", PASSWORD), timeout=30)
        crumb = crumb_session.get("/crumbIssuer/api/json").json()
        clones = []
        for name, job in names:
            r = httpx.post(
                f"{self.url}/api/v1/user/repos",
                auth=("bootcamp", "bootcamp"),
                json={"name": name, "auto_init": True, "default_branch": "main"},
            )
            assert r.status_code == 201, r.text
            xml = (TUTORIAL / "job.xml").read_text().replace("10.0.24.28:30022", self.hp)
            xml = xml.replace("notes-app", name)
            r = crumb_session.post(
                "/createItem",
                params={"name": job},
                content=xml,
                headers={crumb["crumbRequestField"]: crumb["crumb"]},
            )
            assert r.status_code == 200, r.text
            clone = self.work / name
            run("git", "clone", "-q", f"http://bootcamp:bootcamp@{self.hp}/bootcamp/{name}.git", str(clone))
            (clone / "Dockerfile").write_text(
                (TUTORIAL / "Dockerfile").read_text().replace("FROM alpine:3.20", f"FROM {base}")
            )
            jf = (TUTORIAL / "Jenkinsfile").read_text().replace("10.0.24.28:30002", self.hp)
            (clone / "Jenkinsfile").write_text(jf.replace("hello-kaniko", job))
            run("git", "add", "Dockerfile", "Jenkinsfile", cwd=clone)
            run("git", "commit", "-q", "-m", "pipeline", cwd=clone)
            clones.append(clone)
        return clones

    def push_change(self, clone: Path, n: int) -> tuple[str, float]:
        (clone / "change.txt").write_text(f"{n} {time.time()}\n")
        run("git", "add", "-A", cwd=clone)  # change.txt and any other edit (the Jenkinsfile)
        run("git", "commit", "-q", "-m", f"change {n}", cwd=clone)
        run("git", "push", "-q", "origin", "main", cwd=clone)
        pushed = time.perf_counter()
        return run("git", "rev-parse", "--short", "HEAD", cwd=clone).strip(), pushed

    def digest(self, repo: str, tag: str) -> str | None:
        r = self.http.head(f"/v2/bootcamp/{repo}/manifests/{tag}", headers={"Accept": ACCEPT})
        return r.headers.get("docker-content-digest") if r.status_code == 200 else None

    def wait_tags(
        self, pending: dict[tuple[str, str], float], latest_of: dict[str, str], timeout: float = 600
    ) -> dict[tuple[str, str], float]:
        """{(repo, sha): push time} -> {(repo, sha): seconds until :sha resolves and, for each
        repo's newest push, :latest resolves to the same digest}."""
        done: dict[tuple[str, str], float] = {}
        deadline = time.perf_counter() + timeout
        while len(done) < len(pending):
            if time.perf_counter() > deadline:
                missing = sorted(set(pending) - set(done))
                raise SystemExit(f"timed out; not built: {missing}")
            for (repo, sha), pushed in pending.items():
                if (repo, sha) in done:
                    continue
                digest = self.digest(repo, sha)
                if digest is None:
                    continue
                if latest_of.get(repo) == sha and self.digest(repo, "latest") != digest:
                    continue
                done[(repo, sha)] = time.perf_counter() - pushed
            time.sleep(0.02)
        return done

    def push_and_time(self, clone: Path, job: str, n: int) -> float:
        """One push -> both tags of `job`'s image in the registry; returns once its build has
        finished too (so the next push starts on an idle server), failing unless SUCCESS."""
        before = len(self.builds(job))
        sha, pushed = self.push_change(clone, n)
        took = self.wait_tags({(job, sha): pushed}, {job: sha})[(job, sha)]
        new = self.finished_builds(job, before)
        if [b["result"] for b in new] != ["SUCCESS"]:
            raise SystemExit(f"push {n}: builds {new} (want one SUCCESS); see {self.url}/job/{job}/")
        return took

    def console(self, job: str) -> str:
        number = self.builds(job)[0]["number"]
        return self.http.get(f"/job/{job}/{number}/consoleText").text

    def builds(self, job: str) -> list[dict]:
        return list(self.http.get(f"/api/ci/jobs/{job}/builds").json())

    def finished_builds(self, job: str, skip: int, timeout: float = 120) -> list[dict]:
        """The builds after the first `skip`, once all of them have finished (tags are pushed
        before a build's teardown ends)."""
        deadline = time.perf_counter() + timeout
        while True:
            builds = self.builds(job)
            new = builds[: len(builds) - skip]
            if all(b["result"] for b in new) or time.perf_counter() > deadline:
                return new
            time.sleep(0.05)


def summary(name: str, first: float, times: list[float]) -> str:
    return (f"{name:<11} {first:7.2f}s {statistics.median(times):7.2f}s {pct(times, 0.95):7.2f}s"
            f" {min(times):7.2f}s {max(times):7.2f}s {len(times):4d}")


def kubernetes_vs_local(pushes: int) -> int:
    """The tutorial's loop with builds as pods on the real cluster, then on this machine."""
    job = "hello-kaniko"
    with e2e_k8s.bench_cluster() as cluster, tempfile.TemporaryDirectory(prefix="dockyard-e2e-") as tmp:
        loop = Loop(Path(tmp), host=cluster.gateway, env=e2e_k8s.server_env(cluster))
        try:
            (clone,) = loop.setup([("notes-app", job)])
            e2e_k8s.prepare(cluster, loop.hp, loop.work / "docker", PASSWORD)
            dockyard("credentials", "--url", loop.url, "--user", "admin", "--password", PASSWORD,
                     "add-docker-registry", e2e_k8s.PULL_CREDENTIAL, "--server", loop.hp,
                     "--username", "admin", "--password", PASSWORD)
            figures: dict[str, tuple[float, list[float]]] = {}
            for executor in ("kubernetes", "local"):
                if executor == "local":  # the same Jenkinsfile, its pod template annotated
                    jenkinsfile = clone / "Jenkinsfile"
                    jenkinsfile.write_text(jenkinsfile.read_text().replace("spec:\n", LOCAL_ANNOTATION, 1))
                first = loop.push_and_time(clone, job, 0)
                log = loop.console(job)
                on_pod = f"[{e2e_k8s.NAMESPACE}/dockyard-{job}-" in log
                if on_pod != (executor == "kubernetes"):
                    raise SystemExit(f"the build did not run on the {executor} executor:\n{log}")
                print(f"{executor}: first push -> both tags {first:.2f}s", flush=True)
                times = [loop.push_and_time(clone, job, n) for n in range(1, pushes + 1)]
                figures[executor] = (first, times)
            print(f"\npush -> hello-kaniko:<sha> and :latest in the registry, {pushes} pushes after"
                  " the first (cold: the node pulls Dockyard's image; local: the first build)")
            print(f"{'executor':<11} {'cold':>8} {'p50':>8} {'p95':>8} {'min':>8} {'max':>8} {'n':>4}")
            for executor, (first, times) in figures.items():
                print(summary(executor, first, times))
            print(f"{'tutorial':<11} {'':>8} {TUTORIAL_SECONDS:7.0f}s   (Jenkins Kubernetes plugin +"
                  " Kaniko, its C.5 figure, not measured here)")
            p50 = statistics.median(figures["kubernetes"][1])
            print(f"kubernetes p50 is {TUTORIAL_SECONDS / p50:.0f}x faster than the tutorial's figure")
        finally:
            loop.peer.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--single", type=int, default=None,
                        help="sequential pushes to one repository (5; 10 per executor with kubernetes)")
    parser.add_argument("--repos", type=int, default=5)
    parser.add_argument("--burst", type=int, default=20, help="pushes in the burst, spread over --repos")
    parser.add_argument("--executor", choices=("local", "kubernetes"), default="local",
                        help="kubernetes: builds as pods on a real cluster, next to local")
    args = parser.parse_args()
    try:
        import dockyard.credentials  # noqa: F401
    except ImportError:
        raise SystemExit(
            "bench/e2e.py needs dockyard.credentials (the tutorial's harbor-auth secret)"
        ) from None
    if args.executor == "kubernetes":
        return kubernetes_vs_local(args.single or 10)
    args.single = args.single or 5
    with tempfile.TemporaryDirectory(prefix="dockyard-e2e-") as tmp:
        loop = Loop(Path(tmp))
        try:
            clones = loop.setup([(f"notes-{i}", f"hello-{i}") for i in range(args.repos)])
            # warm-up: the first build of each repo (not measured: it includes the first base pull)
            warm = {}
            for i, clone in enumerate(clones):
                sha, pushed = loop.push_change(clone, 0)
                warm[(f"hello-{i}", sha)] = pushed
            loop.wait_tags(warm, {repo: sha for repo, sha in warm})

            single: list[float] = []
            for n in range(1, args.single + 1):
                sha, pushed = loop.push_change(clones[0], n)
                took = loop.wait_tags({("hello-0", sha): pushed}, {"hello-0": sha})
                single.append(took[("hello-0", sha)])
            print(
                f"single push -> both tags, {len(single)} pushes: p50 {statistics.median(single):.2f}s"
                f"  p95 {pct(single, 0.95):.2f}s  min {min(single):.2f}s  max {max(single):.2f}s"
            )

            p50 = statistics.median(single)
            print(
                f"tutorial (Jenkins + Kaniko on k8s, its C.5 figure, not measured here): "
                f"{TUTORIAL_SECONDS:.0f}s per commit -> Dockyard is {TUTORIAL_SECONDS / p50:.0f}x faster"
                " (single-push p50)"
            )
            if args.burst:  # --burst 0: the single-push figures only
                before = {i: len(loop.builds(f"hello-{i}")) for i in range(args.repos)}
                pending: dict[tuple[str, str], float] = {}
                latest: dict[str, str] = {}
                started = time.perf_counter()
                for n in range(args.burst):
                    i = n % args.repos
                    sha, pushed = loop.push_change(clones[i], 100 + n)
                    pending[(f"hello-{i}", sha)] = pushed
                    latest[f"hello-{i}"] = sha
                pushing = time.perf_counter() - started
                took = loop.wait_tags(pending, latest)
                wall = time.perf_counter() - started
                results, waits = [], []
                for i in range(args.repos):
                    new = loop.finished_builds(f"hello-{i}", before[i])
                    results += [b["result"] for b in new]
                    waits += [b["started_at"] - b["queued_at"] for b in new]
                lat = list(took.values())
                ok = results.count("SUCCESS")
                print(
                    f"burst: {args.burst} pushes over {args.repos} repos in {pushing:.2f}s,"
                    f" all tags after {wall:.2f}s"
                )
                print(f"burst: builds {ok}/{len(results)} SUCCESS,"
                      f" {len(took)}/{args.burst} :sha tags present")
                print(f"burst push -> tags: p50 {pct(lat, 0.5):.2f}s  p95 {pct(lat, 0.95):.2f}s")
                print(f"burst queue wait:   p50 {pct(waits, 0.5):.2f}s  p95 {pct(waits, 0.95):.2f}s")
                if ok != args.burst or len(took) != args.burst:
                    print("FAILED: some pushes were not built", file=sys.stderr)
                    return 1
        finally:
            loop.peer.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
