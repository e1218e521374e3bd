"""The build pod: a Jenkinsfile's pod template (`agent { kubernetes { yaml ... } }`) made into the
Pod Dockyard creates, the way Jenkins' Kubernetes plugin does.

What the template says is passed to the cluster as written (containers, volumes of any type -
secret with `items`, emptyDir, configMap, PVC -, serviceAccountName, imagePullSecrets,
nodeSelector, tolerations, resources, securityContext, ...): admission and the kubelet decide,
so a template behaves as on Jenkins, pitfalls included (a secret volume without `items` gives
`.dockerconfigjson`, not `config.json`). Dockyard adds:

- the workspace: an emptyDir `workspace-volume` mounted in every container at `AGENT_HOME`
  (Jenkins' `/home/jenkins/agent`); the build's workspace is `AGENT_HOME/workspace/<job>`;
- the agent container `jnlp` (Jenkins' name) that runs top-level steps, from the agent image,
  unless the template has its own `jnlp` container; when every container of the template runs
  as non-root, `jnlp` runs as their uid with PSS `restricted` settings (`agent_security`), so
  a restricted-compatible template passes a `restricted` namespace;
- a keep-alive command for every container without `command:` (templates with `command: [cat]`
  and `tty: true` keep theirs); `dockyard.io/keep-entrypoint: "a,b"` (pod annotation) leaves
  containers `a` and `b` on their image's entrypoint (sidecar services); native sidecars
  (initContainers) are never changed;
- the Kaniko image (`gcr.io/kaniko-project/executor:*`, `Settings.kaniko_images`) replaced by
  Dockyard's executor image, which has `/kaniko/executor` (its keep-alive replaces the template's
  `/busybox/cat`);
- labels naming this Dockyard and the build (cleanup and the concurrency cap find pods by them),
  `restartPolicy: Never` and `activeDeadlineSeconds` = the build's timeout + a grace period.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from dockyard.ci.executor.interface import ExecutorError

AGENT_HOME = "/home/jenkins/agent"
AGENT_CONTAINER = "jnlp"
WORKSPACE_VOLUME = "workspace-volume"
CONTROL_DIR = f"{AGENT_HOME}/.dockyard"  # step scripts, logs, pids, exit codes (kubernetes_exec)
KEEP_ENTRYPOINT_ANNOTATION = "dockyard.io/keep-entrypoint"
EXECUTOR_ANNOTATION = "dockyard.io/executor"  # per-pipeline choice: kubernetes | local
# Sleeps until told to stop: SIGTERM (pod delete) ends it at once, so deletion does not wait for
# the grace period. `sh` and `sleep` from the image's PATH (Kaniko's debug image: /busybox).
KEEP_ALIVE = ["sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]
DEADLINE_GRACE = 300  # seconds on top of the build's timeout before the cluster kills the pod
DEFAULT_DEADLINE = 24 * 3600  # activeDeadlineSeconds of a build without a timeout
AGENT_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}}  # Jenkins' jnlp defaults
AGENT_UID = 1000  # the non-root agent's uid when the template's non-root containers name none
RESTRICTED = {  # what PSS `restricted` asks of every container besides running as non-root
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}

LABEL_MANAGED = "app.kubernetes.io/managed-by"
LABEL_INSTANCE = "dockyard.io/instance"
LABEL_JOB = "dockyard.io/job"
LABEL_BUILD = "dockyard.io/build"
ANNOTATION_JOB = "dockyard.io/job-name"
ANNOTATION_URL = "dockyard.io/build-url"


@dataclass(frozen=True)
class PodOptions:
    """The cloud's settings (`Settings.k8s_*`) and the build's identity."""

    agent_image: str
    executor_image: str
    kaniko_images: Sequence[str]
    instance: str  # this Dockyard (LABEL_INSTANCE)
    job: str
    number: int
    build_url: str = ""
    timeout_seconds: float | None = None
    pull_secrets: Sequence[str] = ()  # extra imagePullSecrets (made from the credential store)


@dataclass
class BuildPod:
    """The manifest to create, and what the executor needs to know about it."""

    manifest: dict[str, Any]
    containers: list[str]
    mapped: dict[str, str] = field(default_factory=dict)  # container -> template image replaced

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def workspace(self) -> str:
        return workspace_path(str(self.manifest["metadata"]["annotations"][ANNOTATION_JOB]))


def workspace_path(job: str) -> str:
    """The build's workspace inside the pod (Jenkins: `/home/jenkins/agent/workspace/<job>`)."""
    return f"{AGENT_HOME}/workspace/{job.replace('/', '_')}"


@functools.lru_cache(maxsize=32)
def _parsed(pod_yaml: str) -> Any:
    return YAML(typ="safe").load(pod_yaml)


def parse_yaml(pod_yaml: str) -> Any:
    """The template safe-loaded, cached by its text (every build reads it for the executor pick
    and again for its containers); a deep copy, so callers may change it. Raises YAMLError."""
    return copy.deepcopy(_parsed(pod_yaml))


def load_template(pod_yaml: str) -> dict[str, Any]:
    """The template as a Pod mapping (an empty one for no template); ExecutorError naming what is
    wrong otherwise."""
    if not pod_yaml.strip():
        return {}
    try:
        doc = parse_yaml(pod_yaml)
    except YAMLError as e:
        raise ExecutorError(f"kubernetes agent yaml is not valid YAML: {e}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict) or doc.get("kind", "Pod") != "Pod":
        raise ExecutorError("kubernetes agent yaml must be a Pod (kind: Pod)")
    for key in ("metadata", "spec"):
        if not isinstance(doc.get(key) or {}, dict):
            raise ExecutorError(f"pod {key} must be a mapping")
    return doc


def template_annotation(pod_yaml: str, name: str) -> str:
    """One annotation of the template's metadata ("" when absent)."""
    meta = load_template(pod_yaml).get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return str(annotations.get(name, "")) if isinstance(annotations, dict) else ""


def label_value(text: str) -> str:
    """`text` as a label value: at most 63 of [A-Za-z0-9._-], starting and ending alphanumeric
    (long or unusual job names get a hash suffix so two never share a value)."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    if clean == text and len(clean) <= 63:
        return clean
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{clean[:54].strip('-._')}-{digest}".strip("-")


def pod_name(job: str, number: int, suffix: str) -> str:
    """A DNS-1123 name: `dockyard-<job>-<n>-<suffix>`, at most 63 characters."""
    base = re.sub(r"[^a-z0-9-]+", "-", job.lower()).strip("-") or "job"
    tail = f"-{number}-{suffix}"
    return f"dockyard-{base[: 63 - len('dockyard-') - len(tail)].strip('-')}{tail}"


def build_pod(pod_yaml: str, options: PodOptions, suffix: str) -> BuildPod:
    """The Pod for one build from its template (see the module docstring for what is added)."""
    doc = load_template(pod_yaml)
    meta = dict(doc.get("metadata") or {})
    spec = dict(doc.get("spec") or {})
    annotations = _mapping(meta.get("annotations"), "metadata.annotations")
    labels = _mapping(meta.get("labels"), "metadata.labels")
    keep = {n.strip() for n in str(annotations.get(KEEP_ENTRYPOINT_ANNOTATION, "")).split(",") if n.strip()}
    containers = spec.get("containers") or []
    if not isinstance(containers, list):
        raise ExecutorError("pod spec.containers must be a list")
    workspace = workspace_path(options.job)
    security = agent_security(spec.get("securityContext"), [c for c in containers if isinstance(c, dict)])
    # the runtime makes a missing workingDir as root: non-root containers start in the emptyDir
    # (world-writable) and the agent makes the workspace as their uid; steps cd into it
    working_dir = AGENT_HOME if security else workspace
    mapped: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for raw in containers:
        if not isinstance(raw, dict) or not raw.get("name") or not raw.get("image"):
            raise ExecutorError("every pod container needs name: and image:")
        c = dict(raw)
        name = str(c["name"])
        if name in names:
            raise ExecutorError(f"pod template: two containers are named {name!r}")
        names.add(name)
        image = str(c["image"])
        if any(image.startswith(p) for p in options.kaniko_images):
            c["image"] = options.executor_image
            mapped[name] = image
        # the stand-in image has no /busybox/cat of Kaniko's debug image: its own keep-alive
        if name in mapped or ("command" not in c and name not in keep):
            c["command"] = list(KEEP_ALIVE)
            c.pop("args", None)
        out.append(_with_workspace(_quantities(c), working_dir))
    if AGENT_CONTAINER not in names:
        agent = {"name": AGENT_CONTAINER, "image": options.agent_image, "command": list(KEEP_ALIVE),
                 "resources": AGENT_RESOURCES}
        if security:
            agent["securityContext"] = security
        out.append(_with_workspace(agent, working_dir))
    spec["containers"] = out
    volumes = list(spec.get("volumes") or [])
    if not any(isinstance(v, dict) and v.get("name") == WORKSPACE_VOLUME for v in volumes):
        volumes.append({"name": WORKSPACE_VOLUME, "emptyDir": {}})
    spec["volumes"] = volumes
    pulls = list(spec.get("imagePullSecrets") or [])
    pulls += [{"name": s} for s in options.pull_secrets if {"name": s} not in pulls]
    if pulls:
        spec["imagePullSecrets"] = pulls
    spec["restartPolicy"] = "Never"
    deadline = int(options.timeout_seconds + DEADLINE_GRACE) if options.timeout_seconds else DEFAULT_DEADLINE
    if isinstance(spec.get("activeDeadlineSeconds"), int):
        deadline = min(deadline, spec["activeDeadlineSeconds"])
    spec["activeDeadlineSeconds"] = deadline
    labels.update({LABEL_MANAGED: "dockyard", LABEL_INSTANCE: options.instance,
                   LABEL_JOB: label_value(options.job), LABEL_BUILD: str(options.number)})
    annotations[ANNOTATION_JOB] = options.job
    if options.build_url:
        annotations[ANNOTATION_URL] = options.build_url
    name = pod_name(options.job, options.number, suffix)
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": spec,
    }
    return BuildPod(manifest, [str(c["name"]) for c in out], mapped)


def agent_security(pod_context: object, containers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The added `jnlp` container's securityContext: restricted-compatible, as the uid (and gid)
    the template's containers run as, when every one of them runs as non-root (their own or the
    pod's runAsUser/runAsNonRoot); one uid for all keeps the workspace writable by all, as the
    files each container leaves there are its uid's. None (the agent image's user, root) when
    any may run as root, as Kaniko does: a non-root agent could not change what root leaves in
    the workspace, and such a pod needs PSS `baseline` anyway."""
    pod = pod_context if isinstance(pod_context, dict) else {}
    ids: list[tuple[object, object]] = []
    for c in containers:
        own = c.get("securityContext")
        own = own if isinstance(own, dict) else {}
        uid = own.get("runAsUser", pod.get("runAsUser"))
        non_root = own.get("runAsNonRoot", pod.get("runAsNonRoot"))
        if uid == 0 or (not isinstance(uid, int) and non_root is not True):
            return None
        ids.append((uid, own.get("runAsGroup", pod.get("runAsGroup"))))
    if not ids:
        return None
    named = [(uid, gid) for uid, gid in ids if isinstance(uid, int)]
    uid, gid = named[0] if named else (AGENT_UID, None)
    security: dict[str, Any] = {"runAsNonRoot": True, "runAsUser": uid, **RESTRICTED}
    if isinstance(gid, int):
        security["runAsGroup"] = gid
    return security


def _mapping(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ExecutorError(f"pod {where} must be a mapping")
    return {str(k): str(v) for k, v in value.items()}


def _quantities(c: dict[str, Any]) -> dict[str, Any]:
    """`resources` quantities as strings (`cpu: 1` -> "1"), as kubectl sends them: the API
    accepts both, the client library's model only strings."""
    resources = c.get("resources")
    if isinstance(resources, dict):
        c["resources"] = {
            kind: {k: str(v) for k, v in values.items()} if isinstance(values, dict) else values
            for kind, values in resources.items()
        }
    return c


def _with_workspace(c: dict[str, Any], working_dir: str) -> dict[str, Any]:
    """The container with the workspace volume at AGENT_HOME and `working_dir` (the workspace,
    or AGENT_HOME for non-root pods) as its working directory unless the template chose one, as
    Jenkins mounts it in every container."""
    mounts = list(c.get("volumeMounts") or [])
    if not any(isinstance(m, dict) and m.get("mountPath") == AGENT_HOME for m in mounts):
        mounts.append({"name": WORKSPACE_VOLUME, "mountPath": AGENT_HOME})
    c["volumeMounts"] = mounts
    c.setdefault("workingDir", working_dir)
    return c
