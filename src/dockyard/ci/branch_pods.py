"""A matrix cell's (or a parallel branch's) own `agent { kubernetes { yaml ... } }`.

Jenkins starts one pod per cell. Dockyard runs a build in one agent (one pod on Kubernetes, one
sandbox set locally), so a cell's pod template joins the build's: its containers and volumes are
added under names made unique by the cell's number (`node` of the second such branch becomes
`node-2`), and the cell's steps are pointed at them (`container('node')` inside the cell, and
its `defaultContainer`). Each cell thus runs in containers of its own image (`node:${NODE}`
per cell), on the build's shared workspace, as cells of a pipeline-level agent do. Pod-level
settings (tolerations, nodeSelector, annotations...) must agree between the templates; a
conflict is refused naming the key. `container('x')` called from inside `script { }` is not
renamed (name the container in a `container` step or `defaultContainer`).

A sequential stage's own kubernetes agent stays refused at run time (dockyard.ci.runner).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from dockyard.ci.errors import PipelineError, Pos
from dockyard.ci.model import Agent, Pipeline, Post, Stage, Step

__all__ = ["merge_branch_pods"]

_NETWORK = "dockyard.io/network."  # per-container annotations (dockyard.ci.podtemplate) follow renames


def merge_branch_pods(pipeline: Pipeline) -> Pipeline:
    """`pipeline` with every parallel branch's pod template merged into the build's agent."""
    branches = [
        b
        for s in _walk(pipeline.stages)
        for b in s.parallel
        if b.agent is not None and b.agent.kind == "kubernetes"
    ]
    if not branches:
        return pipeline
    top = pipeline.agent
    pos = branches[0].agent.pos if branches[0].agent else None
    base: dict[str, Any] = (
        _load(top.pod_yaml, top.pos)
        if top.kind == "kubernetes"
        else {"apiVersion": "v1", "kind": "Pod", "spec": {}}
    )
    spec: dict[str, Any] = base["spec"]
    spec["containers"] = list(spec.get("containers") or [])
    used = {str(c.get("name")) for c in spec["containers"] if isinstance(c, dict)}
    used_volumes = {str(v.get("name")) for v in spec.get("volumes") or [] if isinstance(v, dict)}
    merged: dict[int, Stage] = {}
    for number, branch in enumerate(branches, 1):
        assert branch.agent is not None
        renames = _merge_one(
            base, _load(branch.agent.pod_yaml, branch.agent.pos), number, used, used_volumes, branch
        )
        default = branch.agent.default_container
        if default and default not in renames:
            raise PipelineError(
                f"defaultContainer '{default}' is not a container of the pod template of"
                f" '{branch.name}' (containers: {', '.join(renames)})",
                branch.agent.pos or _nowhere(),
            )
        merged[id(branch)] = _point(replace(branch, agent=None), renames, renames.get(default, ""))
    agent = Agent(
        "kubernetes",
        pod_yaml=json.dumps(base),  # JSON is YAML: every reader of pod templates takes it
        default_container=top.default_container if top.kind == "kubernetes" else "",
        pos=top.pos or pos,
    )
    return replace(pipeline, agent=agent, stages=_swap(pipeline.stages, merged))


def _walk(stages: tuple[Stage, ...]) -> list[Stage]:
    out: list[Stage] = []
    for s in stages:
        out.append(s)
        out += _walk(s.parallel) + _walk(s.stages)
    return out


def _swap(stages: tuple[Stage, ...], merged: dict[int, Stage]) -> tuple[Stage, ...]:
    return tuple(
        merged.get(id(s)) or replace(s, parallel=_swap(s.parallel, merged), stages=_swap(s.stages, merged))
        for s in stages
    )


def _nowhere() -> Pos:
    return Pos("Jenkinsfile", 1, 1)


def _load(text: str, pos: Pos | None) -> dict[str, Any]:
    try:
        doc = YAML(typ="safe").load(text)
    except YAMLError as e:
        raise PipelineError(f"kubernetes agent yaml is not valid YAML: {e}", pos or _nowhere()) from None
    if not isinstance(doc, dict) or doc.get("kind", "Pod") != "Pod" or not isinstance(doc.get("spec"), dict):
        raise PipelineError("kubernetes agent yaml must be a Pod (kind: Pod, with a spec)", pos or _nowhere())
    return doc


def _fresh(name: str, used: set[str]) -> str:
    """`name` (at most 63 characters, a DNS label) not in `used`, which it joins."""
    base, n = name[:60].rstrip("-"), 1
    out = base
    while out in used:
        n += 1
        out = f"{base}-{n}"
    used.add(out)
    return out


def _merge_one(
    base: dict[str, Any],
    doc: dict[str, Any],
    number: int,
    used: set[str],
    used_volumes: set[str],
    branch: Stage,
) -> dict[str, str]:
    """Adds `doc`'s containers and volumes to `base` renamed; returns {old container: new}."""
    pos = branch.agent.pos if branch.agent else None
    spec, into = doc["spec"], base["spec"]
    volumes = {}
    for v in spec.get("volumes") or []:
        if isinstance(v, dict) and v.get("name"):
            new = _fresh(f"{v['name']}-{number}", used_volumes)
            volumes[str(v["name"])] = new
            into.setdefault("volumes", []).append({**v, "name": new})
    renames: dict[str, str] = {}
    for c in spec.get("containers") or []:
        if not isinstance(c, dict) or not c.get("name"):
            raise PipelineError(
                f"every container of the pod template of '{branch.name}' needs name:", pos or _nowhere()
            )
        new = _fresh(f"{c['name']}-{number}", used)
        renames[str(c["name"])] = new
        mounts = [
            {**m, "name": volumes.get(str(m.get("name")), m.get("name"))} if isinstance(m, dict) else m
            for m in c.get("volumeMounts") or []
        ]
        into["containers"].append({**c, "name": new, **({"volumeMounts": mounts} if mounts else {})})
    for key, value in spec.items():
        if key not in ("containers", "volumes"):
            _agree(into, key, value, f"spec.{key}", branch.name, pos)
    meta = doc.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if annotations:
        target = base.setdefault("metadata", {}).setdefault("annotations", {})
        for key, value in annotations.items():
            if str(key).startswith(_NETWORK) and str(key)[len(_NETWORK) :] in renames:
                key = _NETWORK + renames[str(key)[len(_NETWORK) :]]
            _agree(target, key, value, f"annotation {key}", branch.name, pos)
    return renames


def _agree(target: dict[str, Any], key: str, value: Any, what: str, branch: str, pos: Pos | None) -> None:
    """`target[key] = value`, unless another template already set it otherwise (one pod)."""
    if key in target and target[key] != value:
        raise PipelineError(
            f"the pod template of '{branch}' sets {what} differently from the build's other pod"
            " templates: cells share one pod, so make them agree",
            pos or _nowhere(),
        )
    target[key] = value


def _point(stage: Stage, renames: dict[str, str], default: str) -> Stage:
    """`stage` (and everything inside) with container names renamed, its steps in `default`."""
    return replace(
        stage,
        steps=_steps(stage.steps, renames, default),
        stages=tuple(_point(s, renames, default) for s in stage.stages),
        post=Post({k: _steps(v, renames, default) for k, v in stage.post.blocks.items()}),
    )


def _steps(steps: tuple[Step, ...], renames: dict[str, str], default: str) -> tuple[Step, ...]:
    out = tuple(_step(s, renames) for s in steps)
    if default and out:
        return (Step("container", {"name": default}, out, out[0].pos),)
    return out


def _step(step: Step, renames: dict[str, str]) -> Step:
    args = step.args
    if step.name == "container" and args.get("name") in renames:
        args = {**args, "name": renames[args["name"]]}
    body = tuple(_step(s, renames) for s in step.body) if step.body is not None else None
    return replace(step, args=args, body=body)
