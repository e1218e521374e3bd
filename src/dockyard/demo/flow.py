"""The tutorial end to end against a Dockyard this demo starts: A.3 repos, B.3 credential, C.1
Dockerfile + Jenkinsfile, C.2 job, a push, the image in the registry, C.5 Harbor check, the image
run with runc, the GitOps commit in notes-deploy and the C.5 trace table. Only what users have:
the HTTP APIs, curl, git, skopeo/umoci/runc and the `dockyard` CLI."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dockyard.demo import baseimage, container, tools, tutorial
from dockyard.demo.errors import DemoError
from dockyard.demo.report import Reporter
from dockyard.demo.server import ADMIN_PASSWORD, ADMIN_USER, ChildServer, start_server

USER = "bootcamp"
USER_PASSWORD = "bootcamp"
JOB = "hello-kaniko"
STEPS = 15
_MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json,"
                   "application/vnd.docker.distribution.manifest.v2+json,"
                   "application/vnd.oci.image.index.v1+json")


@dataclass
class DemoOptions:
    data_dir: Path | None = None
    port: int | None = None
    keep: bool = False
    timeout: float = 300.0


@dataclass
class Timings:
    push_to_image: float = 0.0
    push_to_deploy: float = 0.0


class Demo:
    """One run: owns the work directory and the server it starts."""

    def __init__(self, options: DemoOptions, reporter: Reporter) -> None:
        self.options = options
        self.report = reporter
        self.own_root: Path | None = None
        if options.data_dir is None:
            self.own_root = Path(tempfile.mkdtemp(prefix="dockyard-demo-"))
            self.data_dir = self.own_root / "data"
            self.work = self.own_root / "work"
        else:
            self.data_dir = options.data_dir.resolve()
            if self.data_dir.exists() and any(self.data_dir.iterdir()):
                raise DemoError(
                    f"{self.data_dir} is not empty: the demo needs a fresh data dir "
                    "(omit --data-dir for a new temporary one)"
                )
            self.work = Path(tempfile.mkdtemp(prefix="dockyard-demo-work-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        self.server: ChildServer | None = None
        self.timings = Timings()

    # -- helpers ----------------------------------------------------------------------------
    @property
    def srv(self) -> ChildServer:
        assert self.server is not None
        return self.server

    def admin_cli(self) -> list[str]:
        return ["--url", self.srv.url, "--user", ADMIN_USER, "--password", ADMIN_PASSWORD]

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.srv.url, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30)

    def repo_url(self, name: str) -> str:
        return f"http://{USER}:{USER_PASSWORD}@{self.srv.host_port}/{USER}/{name}.git"

    # -- the tutorial -------------------------------------------------------------------------
    def run(self) -> None:
        r = self.report
        with r.step("check the tools, start `dockyard up` (git server, registry, CI on one port)"):
            self.check_prerequisites()
            log_path = (self.own_root or self.work) / "dockyard.log"
            self.server = start_server(self.data_dir, self.options.port, log_path)
            r.detail(f"{self.srv.url}  pid {self.srv.pid}  data dir {self.data_dir}")
            r.detail(f"administrator {ADMIN_USER}:{ADMIN_PASSWORD}; server log {self.srv.log_path}")
        with r.step(f"create user {USER} (Gitea API: POST /api/v1/admin/users)"):
            self.create_user()
        with r.step("create bootcamp/notes-app and bootcamp/notes-deploy (tutorial A.3, curl)"):
            self.create_repos()
        with r.step("import a busybox base image (dockyard image import; offline stand-in for alpine)"):
            base = self.import_base()
        with r.step(f"add the harbor-auth registry credential (tutorial B.3) and deploy-login, owner {USER}"):
            self.add_credentials()
        with r.step("commit a Deployment manifest to notes-deploy (k8s/deployment.yaml)"):
            self.seed_deploy_repo()
        with r.step("commit the tutorial's Dockerfile and Jenkinsfile to notes-app (tutorial C.1)"):
            app = self.seed_app_repo(base)
        with r.step(f"create job {JOB}: crumb + POST /createItem with the tutorial's job.xml (C.2)"):
            self.create_job()
        with r.step("push a change to notes-app"):
            sha, pushed = self.push_change(app)
        with r.step(f"wait for {tutorial.IMAGE_REPO}:<commit> and :latest in the registry"):
            self.wait_for_image(sha, pushed)
        with r.step("Harbor check (tutorial C.5)"):
            self.harbor_check()
        with r.step("pull the image with skopeo, unpack with umoci, run it with runc"):
            self.run_image()
        with r.step("the GitOps commit CI pushed to notes-deploy"):
            self.show_deploy_commit(sha)
        with r.step(f"the build's trace (dockyard trace {JOB} 1)"):
            r.detail(tools.dockyard("trace", JOB, "1", *self.admin_cli()))
        with r.step("timing"):
            r.detail(f"git push -> both tags in the registry: {self.timings.push_to_image:.2f}s"
                     " (the tutorial: 120 s)")
            r.detail(f"git push -> notes-deploy patched:      {self.timings.push_to_deploy:.2f}s")

    def check_prerequisites(self) -> None:
        """Fail before anything starts when the machine lacks what the loop needs."""
        for program in ("git", "curl"):
            tools.require(program)
        baseimage.static_busybox()
        reason = tools.namespaces_available()
        if reason:
            raise DemoError(f"the builder runs RUN instructions in namespaces, unavailable here: {reason}"
                            " (run as root, or enable unprivileged user namespaces)")
        self.report.detail("git, curl, busybox-static, namespaces: ok")

    def create_user(self) -> None:
        with self.http() as http:
            resp = http.post("/api/v1/admin/users", json={
                "username": USER, "password": USER_PASSWORD, "email": f"{USER}@example.com",
                "must_change_password": False,
            })
        if resp.status_code != 201:
            raise DemoError(f"creating user {USER}: HTTP {resp.status_code}: {resp.text}")
        self.report.detail(f"created {resp.json().get('login', USER)}")

    def create_repos(self) -> None:
        tools.require("curl")
        for repo in ("notes-app", "notes-deploy"):
            body = json.dumps({"name": repo, "private": False, "auto_init": True, "default_branch": "main"})
            out = tools.run(
                ["curl", "-sS", "-u", f"{USER}:{USER_PASSWORD}", f"{self.srv.url}/api/v1/user/repos",
                 "-X", "POST", "-H", "Content-Type: application/json", "-d", body,
                 "-w", "\n%{http_code}"],
                what=f"curl POST /api/v1/user/repos ({repo})",
            )
            text, _, code = out.rpartition("\n")
            if code != "201":
                raise DemoError(f"creating {USER}/{repo}: HTTP {code}: {text}")
            self.report.detail(f"HTTP 201 {json.loads(text)['full_name']} {json.loads(text)['clone_url']}")

    def import_base(self) -> str:
        rootfs = baseimage.make_rootfs(self.work / "busybox-rootfs")
        docker = self.work / "docker"
        docker.mkdir()
        auth = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
        (docker / "config.json").write_text(json.dumps({"auths": {self.srv.host_port: {"auth": auth}}}))
        (docker / "config.json").chmod(0o600)
        base = f"{self.srv.host_port}/library/busybox:1"
        digest = tools.dockyard(
            "image", "import", "--rootfs", str(rootfs), "--destination", base, "--insecure",
            "--cmd", '["sh"]', "--owner", "0:0", env={"DOCKER_CONFIG": str(docker)},
        ).strip().splitlines()
        self.report.detail(f"{base} {digest[-1] if digest else ''}")
        return base

    def add_credentials(self) -> None:
        hp = self.srv.host_port
        # `kubectl create secret ... -n <build namespace>`: Dockyard's namespace is the repository
        # owner's, and a job binds only credentials of its repository's owner (or granted to it)
        tools.dockyard("credentials", *self.admin_cli(), "add-docker-registry", "harbor-auth",
                       "--owner", USER, "--server", hp, "--username", ADMIN_USER,
                       "--password", ADMIN_PASSWORD, hide=[ADMIN_PASSWORD])
        tools.dockyard("credentials", *self.admin_cli(), "add-username-password",
                       tutorial.DEPLOY_CREDENTIAL, "--owner", USER, "--username", USER,
                       "--password", USER_PASSWORD, hide=[USER_PASSWORD])
        listing = tools.dockyard("credentials", *self.admin_cli(), "list")
        self.report.detail(listing)

    def seed_deploy_repo(self) -> None:
        work = self.work / "notes-deploy"
        tools.git("clone", "-q", self.repo_url("notes-deploy"), str(work), cwd=self.work)
        (work / tutorial.DEPLOY_PATH).mkdir()
        (work / tutorial.DEPLOY_PATH / "deployment.yaml").write_text(tutorial.deployment(self.srv.host_port))
        tools.git("add", tutorial.DEPLOY_PATH, cwd=work)
        tools.git("commit", "-q", "-m", "hello-kaniko Deployment", cwd=work)
        tools.git("push", "-q", "origin", "main", cwd=work)
        self.report.detail(tools.git("log", "--oneline", "-1", cwd=work))

    def seed_app_repo(self, base: str) -> Path:
        work = self.work / "notes-app"
        tools.git("clone", "-q", self.repo_url("notes-app"), str(work), cwd=self.work)
        (work / "Dockerfile").write_text(tutorial.dockerfile(base))
        (work / "Jenkinsfile").write_text(tutorial.jenkinsfile(self.srv.host_port))
        tools.git("add", "Dockerfile", "Jenkinsfile", cwd=work)
        tools.git("commit", "-q", "-m", "hello kaniko", cwd=work)
        tools.git("push", "-q", "origin", "main", cwd=work)
        self.report.detail(tools.git("log", "--oneline", "-1", cwd=work))
        self.report.detail("Dockerfile:\n" + tutorial.dockerfile(base))
        return work

    def create_job(self) -> None:
        cookie = str(self.work / "jenkins-cookie")
        job_xml = self.work / "job.xml"
        job_xml.write_text(tutorial.job_xml(self.srv.host_port))
        login = f"{ADMIN_USER}:{ADMIN_PASSWORD}"
        crumb = tools.run(
            ["curl", "-sS", "-f", "-c", cookie, "-b", cookie, "-u", login,
             f"{self.srv.url}/crumbIssuer/api/xml?xpath=concat(//crumbRequestField,%22:%22,//crumb)"],
            what="curl /crumbIssuer/api/xml", hide=[login],
        ).strip()
        if ":" not in crumb:
            raise DemoError(f"the crumb issuer answered {crumb!r}, not FIELD:CRUMB")
        out = tools.run(
            ["curl", "-sS", "-c", cookie, "-b", cookie, "-u", login, "-X", "POST", "-H", crumb,
             "-H", "Content-Type:application/xml", "--data-binary", f"@{job_xml}",
             "-w", "\n%{http_code}", f"{self.srv.url}/createItem?name={JOB}"],
            what="curl POST /createItem", hide=[login],
        )
        text, _, code = out.rpartition("\n")
        if code != "200":
            raise DemoError(f"POST /createItem?name={JOB}: HTTP {code}: {text}")
        self.report.detail(f"crumb header {crumb.split(':', 1)[0]}: ...; createItem HTTP {code}")

    def push_change(self, app: Path) -> tuple[str, float]:
        readme = app / "README.md"
        readme.write_text(readme.read_text() + "\nBuilt by Dockyard's CI on every push.\n")
        tools.git("commit", "-q", "-am", "docs: say who builds this", cwd=app)
        tools.git("push", "-q", "origin", "main", cwd=app)
        pushed = time.monotonic()
        sha = tools.git("rev-parse", "HEAD", cwd=app).strip()
        self.report.detail(f"pushed {sha} to main")
        return sha, pushed

    def wait_for_image(self, sha: str, pushed: float) -> None:
        deadline = pushed + self.options.timeout
        tags = {sha: False, "latest": False}
        with self.http() as http:
            while not all(tags.values()):
                self._check_build_alive(http)
                for tag in [t for t, seen in tags.items() if not seen]:
                    resp = http.head(f"/v2/{tutorial.IMAGE_REPO}/manifests/{tag}",
                                     headers={"Accept": _MANIFEST_TYPES})
                    if resp.status_code == 200:
                        tags[tag] = True
                        self.report.detail(f"{self.srv.host_port}/{tutorial.IMAGE_REPO}:{tag} "
                                           f"{resp.headers.get('docker-content-digest', '')} "
                                           f"after {time.monotonic() - pushed:.2f}s")
                if time.monotonic() > deadline:
                    raise DemoError(f"the image did not appear within {self.options.timeout:g} s"
                                    f"\n{self._console(http)}")
                time.sleep(0.05)
            self.timings.push_to_image = time.monotonic() - pushed
            info = self._wait_build(http, deadline)
            self.timings.push_to_deploy = time.monotonic() - pushed
            statuses = http.get(f"/api/v1/repos/{USER}/notes-app/statuses/{sha}")
        self.report.detail(f"build #1 {info['result']} in {info.get('duration', 0) / 1000:.2f}s")
        if statuses.status_code == 200:
            states = [f"{st.get('status') or st.get('state')} ({st.get('description', '')})"
                      for st in reversed(statuses.json())]
            self.report.detail(f"commit status on {sha[:12]} (Gitea API): {', '.join(states)}")

    def _check_build_alive(self, http: httpx.Client) -> None:
        resp = http.get(f"/job/{JOB}/1/api/json")
        if resp.status_code == 200 and resp.json().get("result") not in (None, "SUCCESS"):
            raise DemoError(f"build #1 ended {resp.json()['result']}:\n{self._console(http)}")

    def _wait_build(self, http: httpx.Client, deadline: float) -> dict[str, Any]:
        while time.monotonic() < deadline:
            resp = http.get(f"/job/{JOB}/1/api/json")
            if resp.status_code == 200 and resp.json().get("result"):
                info: dict[str, Any] = resp.json()
                if info["result"] != "SUCCESS":
                    raise DemoError(f"build #1 ended {info['result']}:\n{self._console(http)}")
                return info
            time.sleep(0.05)
        raise DemoError(f"build #1 did not finish in time:\n{self._console(http)}")

    def _console(self, http: httpx.Client) -> str:
        resp = http.get(f"/job/{JOB}/1/consoleText")
        if resp.status_code != 200:
            return f"(no build #1: HTTP {resp.status_code}; server log:\n{self.srv.log_tail()})"
        return "console of build #1:\n" + resp.text

    def harbor_check(self) -> None:
        login = f"{ADMIN_USER}:{ADMIN_PASSWORD}"
        url = f"{self.srv.url}/api/v2.0/projects/{USER}/repositories"
        self.report.detail(f"$ curl -u {login} {url} | jq -c '.[] | {{name, artifact_count}}'")
        body = tools.run(["curl", "-sS", "-f", "-u", login, url], what="curl the Harbor API")
        if shutil.which("jq"):
            out = tools.run(["jq", "-c", ".[] | {name, artifact_count}"], what="jq",
                            input_text=body)
        else:
            out = "\n".join(
                json.dumps({"name": r["name"], "artifact_count": r["artifact_count"]}, separators=(",", ":"))
                for r in json.loads(body)
            )
        self.report.detail(out)
        expected = json.dumps({"name": tutorial.IMAGE_REPO, "artifact_count": 1}, separators=(",", ":"))
        if out.strip() != expected:
            raise DemoError(f"the Harbor check printed {out.strip()!r}, expected {expected}")

    def run_image(self) -> None:
        reason = container.unavailable_reason()
        if reason:
            self.report.detail(f"SKIPPED: cannot run containers here: {reason}")
            return
        reference = f"{self.srv.host_port}/{tutorial.IMAGE_REPO}:latest"
        out = container.run_image(reference, f"{ADMIN_USER}:{ADMIN_PASSWORD}", self.work / "run")
        self.report.detail(f"$ runc run  ({reference})\n{out}")
        if out.strip() != "Hello from Kaniko":
            raise DemoError(f"the container printed {out.strip()!r}, expected 'Hello from Kaniko'")

    def show_deploy_commit(self, sha: str) -> None:
        work = self.work / "notes-deploy"
        tools.git("pull", "-q", "--ff-only", "origin", "main", cwd=work)
        shown = tools.git("show", "HEAD", cwd=work)
        self.report.detail(shown)
        manifest = (work / tutorial.DEPLOY_PATH / "deployment.yaml").read_text()
        if f"{tutorial.IMAGE_REPO}:{sha}" not in manifest:
            raise DemoError(f"notes-deploy's deployment.yaml was not patched to :{sha}:\n{manifest}")

    # -- teardown -----------------------------------------------------------------------------
    def finish(self, keep: bool, failed: bool = False) -> None:
        """Stop our server (unless kept); remove temporary files unless kept or after a failure."""
        r = self.report
        if self.server is not None and self.server.process.poll() is None:
            if keep:
                r.say(f"\nDockyard keeps running at {self.srv.url} (admin:{ADMIN_PASSWORD}, "
                      f"{USER}:{USER_PASSWORD}), pid {self.srv.pid}; stop it with `kill {self.srv.pid}`")
                r.say(f"data dir {self.data_dir}; clones in {self.work}")
                return
            status = self.srv.stop()
            r.say(f"stopped dockyard up (pid {self.srv.pid}, exit status {status})")
        if failed and self.server is not None:
            r.say(f"kept for inspection: data dir {self.data_dir}, clones and server log in "
                  f"{self.own_root or self.work}")
            return
        if keep:
            return
        if self.own_root is not None:
            shutil.rmtree(self.own_root, ignore_errors=True)
        else:
            shutil.rmtree(self.work, ignore_errors=True)
