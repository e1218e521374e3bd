"""`run_doctor`: every check in the order a build meets them - server, job, git, cluster, RBAC,
admission, registry secret, registry, pod network - each area skipped with its reason when what
it needs is missing (no credentials, no job, no cluster)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dockyard.doctor.admission import check_dry_run
from dockyard.doctor.findings import OK, PROBLEM, SKIPPED, Report, brief
from dockyard.doctor.git import check_git
from dockyard.doctor.job import JobTarget, load_file, load_job
from dockyard.doctor.kube import Cluster, connect
from dockyard.doctor.pod import PodSettings, build_pod, images
from dockyard.doctor.probe import check_from_pod
from dockyard.doctor.rbac import check_rbac
from dockyard.doctor.registry import Probe, RegistryLogin, check_image, check_push, registry_host
from dockyard.doctor.secrets import SecretFacts, check_secrets
from dockyard.doctor.server import Server, check_crumb, check_server
from dockyard.doctor.template import check_items, config_volumes, pull_secrets


@dataclass
class DoctorOptions:
    server: Server
    job: str | None = None
    jenkinsfile: Path | None = None  # a local pipeline file instead of a job's
    cluster: bool = True  # False: server-only checks
    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str | None = None
    probe_image: str | None = None  # a busybox image: run the pod network probe with it
    registries: list[str] = field(default_factory=list)  # more host:port names of this Dockyard's registry
    pod: PodSettings = field(default_factory=PodSettings)
    timeout: float = 10.0


def run_doctor(options: DoctorOptions) -> Report:
    report = Report(context={"server": options.server.url})
    server = options.server
    try:
        up = check_server(report, server)
        if up and server.authenticated:
            check_crumb(report, server)
        target = _target(report, options, up)
        if target is not None and target.repo:
            check_git(report, server, target.repo)
        pod = _pod(report, options, target)
        cluster = None
        if options.cluster:
            cluster = connect(report, options.kubeconfig, options.context, options.namespace, options.timeout)
        else:
            report.add("kubernetes", "kubernetes.config", SKIPPED,
                       "--no-cluster: the Kubernetes checks (RBAC, dry-run, registry secret, pod network)"
                       " were skipped")
        try:
            _build_checks(report, options, target, pod, cluster)
        finally:
            if cluster is not None:
                cluster.close()
    finally:
        server.close()
    return report


def _target(report: Report, options: DoctorOptions, up: bool) -> JobTarget | None:
    if options.jenkinsfile is not None:
        return load_file(report, options.jenkinsfile)
    if not options.job:
        report.add("job", "job.config", SKIPPED, "no job given: the build-pod checks were skipped",
                   fix="pass --job NAME (or --jenkinsfile PATH) to check a job's pod template")
        return None
    if not up or not options.server.authenticated:
        report.add("job", "job.config", SKIPPED,
                   f"job {options.job!r} cannot be read without a signed-in server")
        return None
    return load_job(report, options.server, options.job)


def _build_checks(report: Report, options: DoctorOptions, target: JobTarget | None,
                  pod: dict[str, Any] | None, cluster: Cluster | None) -> None:
    server = options.server
    if cluster is not None:
        check_rbac(report, cluster, pull_credential=bool(options.pod.pull_credential))
        if pod is not None:
            check_dry_run(report, cluster, pod)
    if target is None or pod is None:
        return
    assert target.pod is not None
    ours = server.hosts() | {registry_host(h) for h in options.registries} | set(target.registry_hosts())
    push_hosts = target.registry_hosts()
    wanted: dict[str, list[str]] = {v.secret: list(push_hosts) for v in config_volumes(target.pod)}
    pull_hosts = sorted({i.split("/", 1)[0] for i in images(pod) if i.split("/", 1)[0] in ours})
    for name in pull_secrets(pod):
        wanted.setdefault(name, []).extend(h for h in pull_hosts if h not in wanted.get(name, []))
    facts = check_secrets(report, cluster, wanted) if cluster is not None else SecretFacts()
    if cluster is None and wanted:
        report.add("secret", "secret.exists", SKIPPED,
                   f"secret(s) {', '.join(sorted(wanted))} not checked: no cluster")
    check_items(report, target.pod, bool(target.destinations), facts.keys if cluster is not None else None)

    insecure = set(push_hosts) if target.insecure else set()
    if server.url.startswith("http://"):
        insecure |= server.hosts()
    probe = Probe(insecure, options.timeout, set(push_hosts) if target.skip_tls_verify else set())
    # the doctor's own Dockyard password goes to Dockyard's registry only, never to a host a
    # Jenkinsfile names
    dockyard = server.hosts() | {registry_host(h) for h in options.registries}
    own_login = _own_login(server)
    config_secrets = [v.secret for v in config_volumes(target.pod)]
    for destination in _one_per_repository(target.destinations):
        host = destination.split("/", 1)[0]
        login = _login_from(facts, config_secrets, host)
        if cluster is None and config_secrets:
            # the secret lives in the cluster: at least the registry and the user
            login = own_login if host in dockyard else None
        elif login is None and config_secrets:
            report.add("registry", "registry.push", SKIPPED,
                       f"push to {destination} not checked: secret {', '.join(config_secrets)} is not usable"
                       " (see above)")
            continue
        check_push(report, probe, destination, login)
    for image in images(pod):
        host = image.split("/", 1)[0]
        login = _login_from(facts, pull_secrets(pod), host)
        if login is None and (cluster is None or options.pod.pull_credential) and host in dockyard:
            login = own_login  # builds pull with a secret made from the pull credential: not in the cluster
        check_image(report, probe, image, login, ours)
    if cluster is None:
        return
    urls = [f"{probe.scheme(h)}://{h}/v2/" for h in push_hosts]
    if target.repo and server.base_url:
        urls.append(f"{server.base_url.rstrip('/')}/{target.repo}.git/info/refs?service=git-upload-pack")
    if not options.probe_image:
        report.add("network", "network.pod", SKIPPED,
                   "the pod network was not probed: pass --probe-image IMAGE (a busybox image the cluster"
                   " can pull) to run a short pod that fetches " + ", ".join(urls))
        return
    # the registry secret is a docker-registry secret too: it pulls the probe image from the registry
    usable = [n for n in pull_secrets(pod) + config_secrets if n in facts.logins]
    check_from_pod(report, cluster, options.probe_image, urls, list(dict.fromkeys(usable)))


def _pod(report: Report, options: DoctorOptions, target: JobTarget | None) -> dict[str, Any] | None:
    """The executor's pod for the target's template (None without one, or when it refuses it)."""
    if target is None or target.pod is None:
        return None
    server = options.server
    registry = urlsplit(server.base_url or server.url).netloc
    try:
        manifest, mapped = build_pod(target, options.pod, registry)
    except Exception as e:  # noqa: BLE001 - the executor's ExecutorError names what is wrong
        report.add("job", "job.pod", PROBLEM, f"the Kubernetes executor refuses the pod template: {brief(e)}",
                   fix="correct the pod template (or set DOCKYARD_K8S_AGENT_IMAGE / --agent-image)")
        return None
    for name, image in mapped.items():
        report.add("job", "job.pod", OK, f"container {name!r}: {image} runs as Dockyard's executor image"
                   f" {_image_of(manifest, name)} (/kaniko/executor = dockyard executor)")
    return manifest


def _image_of(pod: dict[str, Any], container: str) -> str:
    return next((str(c.get("image")) for c in pod["spec"]["containers"] if c.get("name") == container), "")


def _login_from(facts: SecretFacts, names: list[str], host: str) -> RegistryLogin | None:
    for name in names:
        login = facts.logins.get(name, {}).get(host)
        if login is not None:
            return login
    return None


def _own_login(server: Server) -> RegistryLogin | None:
    secret = server.token or server.password
    if not server.username and not server.user or secret is None:
        return None
    return RegistryLogin(server.username or server.user or "", secret, "your Dockyard login")


def _one_per_repository(destinations: list[str]) -> list[str]:
    """One destination per registry repository (`:sha` and `:latest` need the same token)."""
    seen: dict[str, str] = {}
    for d in destinations:
        name = d.split("@", 1)[0]
        repo = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
        seen.setdefault(repo, d)
    return list(seen.values())
