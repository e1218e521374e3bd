"""The job under examination: its config.xml, its Jenkinsfile at the branch it builds, the pod
template of its `agent { kubernetes { yaml ... } }`, and the registry it pushes to.

Everything is read through the server's APIs as the doctor's user, so the permission check is the
server's own: a job of somebody else's private repository answers 404 here exactly as on
/job/NAME/ and the doctor says no more than that."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from dockyard.doctor.findings import OK, PROBLEM, SKIPPED, Report, brief
from dockyard.doctor.server import Server

AREA = "job"
# Kaniko's (and `dockyard executor`'s) destinations in the pipeline's shell steps
_DESTINATION = re.compile(r"--destination(?:=|[ \t]+)[\"']?([^\s\"'\\]+)")
PIPELINE_LIMIT = 1024 * 1024  # what CI itself accepts (dockyard.ci.errors)
EXECUTOR_ANNOTATION = "dockyard.io/executor"  # a pipeline's choice of executor (local | kubernetes)


@dataclass
class JobTarget:
    """What the checks need to know about one job's build."""

    name: str
    script_path: str
    source: str
    repo: str = ""  # owner/name of a repository on this Dockyard, '' for others and inline scripts
    branch: str = ""
    pod: dict[str, Any] | None = None  # the pod template, None when the agent is not kubernetes
    pod_yaml: str = ""
    default_container: str = ""
    destinations: list[str] = field(default_factory=list)  # host:port/repository:tag
    insecure: bool = False  # the steps pass --insecure: the registry speaks plain HTTP
    skip_tls_verify: bool = False  # the steps pass --skip-tls-verify

    def registry_hosts(self) -> list[str]:
        return sorted({d.split("/", 1)[0] for d in self.destinations if "/" in d})


def load_job(report: Report, server: Server, name: str) -> JobTarget | None:
    """The job `name` as the server shows it to the doctor's user, or None (with a finding)."""
    import httpx

    from dockyard.ci import JobConfigError, parse_job_xml

    report.context["job"] = name
    try:
        r = server.get(f"/job/{quote(name, safe='')}/config.xml")
    except httpx.HTTPError as e:
        report.add(AREA, "job.config", PROBLEM, f"cannot read job {name!r}: {brief(e)}")
        return None
    if r.status_code == 404:
        report.add(AREA, "job.config", PROBLEM,
                   f"no job named {name!r} that {server.username or 'this user'} may see",
                   fix="check the name (`dockyard ci jobs` lists yours), or ask for read access to"
                       " the job's repository")
        return None
    if r.status_code != 200:
        report.add(AREA, "job.config", PROBLEM, f"config.xml of job {name!r}: HTTP {r.status_code}"
                   f" {r.text.strip()[:200]}")
        return None
    try:
        cfg = parse_job_xml(r.content)
    except JobConfigError as e:
        report.add(AREA, "job.config", PROBLEM, f"job {name!r}: {e}")
        return None
    if cfg.inline_script:
        report.add(AREA, "job.config", OK, f"job {name!r} has an inline pipeline script")
        return _target(report, JobTarget(name, "config.xml <script>", cfg.inline_script))
    url = urlsplit(cfg.scm_url)
    path = url.path.strip("/").removesuffix(".git")
    host = f"{url.hostname}:{url.port or (443 if url.scheme == 'https' else 80)}" if url.hostname else ""
    if host not in server.hosts() or path.count("/") != 1:
        hook = f"{(server.base_url or server.url).rstrip('/')}/api/ci/hooks/gitea"
        report.add(AREA, "job.config", SKIPPED,
                   f"job {name!r} builds {cfg.scm_url} (not a repository of this Dockyard): its"
                   " Jenkinsfile cannot be read from here, and pushes there start it only through a"
                   f" webhook on that server posting to {hook} (GitHub: /api/ci/hooks/github) signed"
                   " with the CI webhook secret (GET /api/ci/hooks/secret)",
                   fix="pass --jenkinsfile PATH (a local copy) to check its pod template")
        return None
    branch = _branch(cfg.branch_spec)
    if not branch:  # a glob: the default branch is what a push to it builds
        info = server.get(f"/api/v1/repos/{path}")
        branch = str(info.json().get("default_branch") or "main") if info.status_code == 200 else "main"
    raw = server.get(f"/api/v1/repos/{path}/raw/{quote(cfg.script_path)}", params={"ref": branch})
    if raw.status_code == 404:
        report.add(AREA, "job.pipeline", PROBLEM,
                   f"{cfg.script_path} not found in {path} at branch {branch} (the job's scriptPath)",
                   fix=f"push a {cfg.script_path} to {branch}, or change the job's <scriptPath>")
        return None
    if raw.status_code != 200:
        report.add(AREA, "job.pipeline", PROBLEM,
                   f"reading {cfg.script_path} of {path}: HTTP {raw.status_code} {raw.text.strip()[:200]}")
        return None
    report.add(AREA, "job.config", OK, f"job {name!r} builds {path} branch {branch} from {cfg.script_path}")
    target = JobTarget(name, cfg.script_path, raw.content[:PIPELINE_LIMIT].decode(errors="replace"),
                       repo=path, branch=branch)
    return _target(report, target)


def load_file(report: Report, path: Path) -> JobTarget | None:
    """A pipeline file given on the command line (`--jenkinsfile`)."""
    report.context["pipeline"] = str(path)
    try:
        source = path.read_bytes()[:PIPELINE_LIMIT].decode(errors="replace")
    except OSError as e:
        report.add(AREA, "job.pipeline", PROBLEM, f"cannot read {path}: {brief(e)}")
        return None
    return _target(report, JobTarget(path.name, path.name, source))


def _target(report: Report, target: JobTarget) -> JobTarget | None:
    """Parses the pipeline the way CI will and picks out the pod template and destinations."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from dockyard.ci import PipelineError, check_yaml_events, parse_pipeline

    try:
        pipeline = parse_pipeline(target.source, target.script_path)
    except PipelineError as e:
        report.add(AREA, "job.pipeline", PROBLEM, f"the pipeline does not parse: {e}",
                   fix=f"correct {target.script_path} (the build would fail the same way)")
        return None
    target.destinations = _DESTINATION.findall(target.source)
    target.insecure = re.search(r"--insecure(?![-\w])", target.source) is not None
    target.skip_tls_verify = "--skip-tls-verify" in target.source
    agent = pipeline.agent
    if agent.kind != "kubernetes":
        report.add(AREA, "job.agent", SKIPPED,
                   f"the pipeline's agent is {agent.kind!r}, not a kubernetes pod template:"
                   " the build-pod checks do not apply")
        return target
    try:
        check_yaml_events(agent.pod_yaml, "the kubernetes agent's yaml")
    except PipelineError as e:  # aliases would make a small template huge when serialised
        report.add(AREA, "job.agent", PROBLEM, str(e), fix="write the pod template out without anchors")
        return None
    try:
        doc = YAML(typ="safe").load(agent.pod_yaml)
    except YAMLError as e:
        report.add(AREA, "job.agent", PROBLEM, f"the kubernetes agent's yaml is not valid YAML: {brief(e)}",
                   fix="correct the yaml ''' ... ''' block of the agent")
        return None
    if not isinstance(doc, dict) or doc.get("kind", "Pod") != "Pod" or not isinstance(doc.get("spec"), dict):
        report.add(AREA, "job.agent", PROBLEM, "the kubernetes agent's yaml is not a Pod with a spec",
                   fix="write the pod template as `apiVersion: v1`, `kind: Pod`, `spec: {containers: [...]}`")
        return None
    annotations = (doc.get("metadata") or {}).get("annotations") or {}
    chosen = str(annotations.get(EXECUTOR_ANNOTATION, "")) if isinstance(annotations, dict) else ""
    if chosen == "local":
        report.add(AREA, "job.agent", SKIPPED,
                   f"the pod template's annotation {EXECUTOR_ANNOTATION}: local runs this build on the"
                   " Dockyard host, not as a pod: the build-pod checks do not apply")
        return target
    target.pod, target.pod_yaml = doc, agent.pod_yaml
    target.default_container = agent.default_container
    names = [str(c.get("name")) for c in doc["spec"].get("containers") or [] if isinstance(c, dict)]
    pushes = f"; pushes to {', '.join(target.destinations)}" if target.destinations else ""
    report.add(AREA, "job.agent", OK,
               f"pod template with container(s) {', '.join(names) or '(none)'}{pushes}")
    return target


def _branch(spec: str) -> str:
    """`*/main`, `origin/main`, `refs/heads/main`, `main` -> `main`; '' for globs."""
    spec = spec.strip()
    for prefix in ("refs/heads/", "*/", "origin/", "refs/remotes/origin/"):
        if spec.startswith(prefix):
            spec = spec[len(prefix):]
    return "" if any(c in spec for c in "*?[") else spec
