"""The build pod made from a pod template (no cluster needed: the translation is pure)."""

from __future__ import annotations

import pytest

from dockyard.ci.executor.interface import ExecutorError
from dockyard.ci.executor.kubernetes_pod import (
    AGENT_HOME,
    KEEP_ALIVE,
    LABEL_BUILD,
    LABEL_INSTANCE,
    LABEL_JOB,
    PodOptions,
    build_pod,
    label_value,
    pod_name,
    template_annotation,
)
from tests.ci.conftest import TUTORIAL


def tutorial_yaml() -> str:
    text = (TUTORIAL / "Jenkinsfile").read_text()
    return text.split("yaml '''", 1)[1].split("'''", 1)[0]


def options(**kw: object) -> PodOptions:
    base: dict[str, object] = dict(agent_image="reg:5000/dockyard/dockyard:1",
                                   executor_image="reg:5000/exec:1",
                                   kaniko_images=("gcr.io/kaniko-project/executor",), instance="abc",
                                   job="hello-kaniko", number=7, timeout_seconds=600)
    base.update(kw)
    return PodOptions(**base)  # type: ignore[arg-type]


def test_tutorial_template_becomes_a_pod_as_jenkins_makes_it() -> None:
    pod = build_pod(tutorial_yaml(), options(), "x1y2z3")
    m = pod.manifest
    spec = m["spec"]
    assert pod.containers == ["kaniko", "jnlp"]
    kaniko, jnlp = spec["containers"]
    # the Kaniko image maps to Dockyard's executor image, with Dockyard's keep-alive
    assert kaniko["image"] == "reg:5000/exec:1"
    assert pod.mapped == {"kaniko": "gcr.io/kaniko-project/executor:debug"}
    assert kaniko["command"] == KEEP_ALIVE and kaniko["tty"] is True
    assert kaniko["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"},
                                   "limits": {"cpu": "1", "memory": "1Gi"}}  # as kubectl sends it
    # the template's secret volume passes through unchanged, items included (the cluster mounts it)
    secret = next(v for v in spec["volumes"] if v["name"] == "docker-config")
    items = [{"key": ".dockerconfigjson", "path": "config.json"}]
    assert secret["secret"] == {"secretName": "harbor-auth", "items": items}
    assert {"name": "docker-config", "mountPath": "/kaniko/.docker"} in kaniko["volumeMounts"]
    assert spec["tolerations"] == [{"operator": "Exists"}]
    # the workspace emptyDir in every container at the same path; the agent container added
    assert {"name": "workspace-volume", "emptyDir": {}} in spec["volumes"]
    for c in (kaniko, jnlp):
        assert {"name": "workspace-volume", "mountPath": AGENT_HOME} in c["volumeMounts"]
        assert c["workingDir"] == f"{AGENT_HOME}/workspace/hello-kaniko" == pod.workspace
    assert jnlp["image"] == "reg:5000/dockyard/dockyard:1" and jnlp["command"] == KEEP_ALIVE
    assert spec["restartPolicy"] == "Never" and spec["activeDeadlineSeconds"] == 900
    labels = m["metadata"]["labels"]
    assert (labels[LABEL_INSTANCE], labels[LABEL_JOB], labels[LABEL_BUILD]) == ("abc", "hello-kaniko", "7")
    assert pod.name == "dockyard-hello-kaniko-7-x1y2z3"


def test_template_fields_pass_through_and_commands_are_kept_or_injected() -> None:
    yaml = """
metadata:
  labels: {team: a}
  annotations: {dockyard.io/keep-entrypoint: db}
spec:
  serviceAccountName: builder
  nodeSelector: {disk: ssd}
  imagePullSecrets: [{name: regcred}]
  securityContext: {runAsUser: 1000, fsGroup: 1000}
  activeDeadlineSeconds: 60
  containers:
  - {name: maven, image: maven:3, command: [cat], tty: true}
  - {name: golang, image: golang:1, args: [x]}
  - {name: db, image: postgres:16}
  - {name: jnlp, image: my/agent:1, workingDir: /src}
  volumes:
  - {name: cache, persistentVolumeClaim: {claimName: m2}}
  - {name: conf, configMap: {name: settings}}
"""
    pod = build_pod(yaml, options(pull_secrets=("dockyard-pull-1",)), "s")
    spec = pod.manifest["spec"]
    by = {c["name"]: c for c in spec["containers"]}
    assert pod.containers == ["maven", "golang", "db", "jnlp"]  # the template's jnlp is the agent
    assert by["maven"]["command"] == ["cat"] and by["maven"]["tty"] is True
    assert by["golang"]["command"] == KEEP_ALIVE and "args" not in by["golang"]
    assert "command" not in by["db"]  # a sidecar service keeps its entrypoint
    assert by["jnlp"]["image"] == "my/agent:1" and by["jnlp"]["workingDir"] == "/src"
    assert spec["serviceAccountName"] == "builder" and spec["nodeSelector"] == {"disk": "ssd"}
    assert spec["securityContext"] == {"runAsUser": 1000, "fsGroup": 1000}
    assert spec["imagePullSecrets"] == [{"name": "regcred"}, {"name": "dockyard-pull-1"}]
    assert spec["activeDeadlineSeconds"] == 60  # the template's shorter deadline wins
    names = [v["name"] for v in spec["volumes"]]
    assert names == ["cache", "conf", "workspace-volume"]
    assert pod.manifest["metadata"]["labels"]["team"] == "a"


def test_no_template_is_a_pod_with_the_agent_container_only() -> None:
    pod = build_pod("", options(timeout_seconds=None), "s")
    assert pod.containers == ["jnlp"]
    assert pod.manifest["spec"]["activeDeadlineSeconds"] == 24 * 3600


@pytest.mark.parametrize("yaml, message", [
    ("kind: Deployment", "must be a Pod"),
    ("spec: [1]", "spec must be a mapping"),
    ("spec: {containers: [{name: a}]}", "needs name: and image:"),
    ("spec: {containers: [{name: a, image: x}, {name: a, image: y}]}", "two containers are named 'a'"),
    ("spec: {containers: {a: 1}}", "must be a list"),
    ("a: [", "not valid YAML"),
])
def test_bad_templates_are_refused_naming_the_problem(yaml: str, message: str) -> None:
    with pytest.raises(ExecutorError, match=message):
        build_pod(yaml, options(), "s")


def test_names_and_labels_stay_within_kubernetes_limits() -> None:
    long = "Team Project/" + "x" * 100
    name = pod_name(long, 123456, "abcdef")
    assert len(name) <= 63 and name.endswith("-123456-abcdef") and name == name.lower()
    value = label_value(long)
    assert len(value) <= 63 and value[0].isalnum() and value[-1].isalnum()
    assert label_value("simple-job") == "simple-job"
    assert label_value("a b") != label_value("a_b")  # distinct names never share a label value
    yaml = "metadata:\n  annotations: {dockyard.io/executor: kubernetes}\n"
    assert template_annotation(yaml, "dockyard.io/executor") == "kubernetes"
    assert template_annotation("", "dockyard.io/executor") == ""


def test_a_cached_template_is_a_fresh_copy_each_time() -> None:
    """Templates are parsed once per text; a caller changing its copy changes no later build's."""
    from dockyard.ci.executor.kubernetes_pod import load_template, parse_yaml

    text = "spec:\n  containers:\n  - name: k\n    image: kaniko\n"
    first = parse_yaml(text)
    first["spec"]["containers"][0]["image"] = "changed"
    assert parse_yaml(text)["spec"]["containers"][0]["image"] == "kaniko"
    with pytest.raises(ExecutorError, match="not valid YAML"):
        load_template("spec: [\n")
