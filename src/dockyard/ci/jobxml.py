"""Jenkins job XML (`flow-definition`) in and out: what createItem and config.xml carry.

Only pipeline jobs are accepted: `CpsScmFlowDefinition` with a `GitSCM` (the tutorial's C.3) or
`CpsFlowDefinition` with an inline script. Anything else is refused with a message naming it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from dockyard.ci.model import Parameter

SCM_DEFINITION = "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition"
INLINE_DEFINITION = "org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition"


class JobConfigError(ValueError):
    """The job XML cannot be used; the message says what is wrong and what is expected."""


@dataclass
class JobConfig:
    scm_url: str = ""
    branch_spec: str = "*/main"
    script_path: str = "Jenkinsfile"
    credentials_id: str = ""
    inline_script: str = ""
    description: str = ""
    concurrent: bool = False
    disabled: bool = False
    parameters: list[Parameter] = field(default_factory=list)


def parse_job_xml(data: bytes | str) -> JobConfig:
    try:
        root = ET.fromstring(data.encode() if isinstance(data, str) else data)
    except ET.ParseError as e:
        line, col = e.position
        raise JobConfigError(f"job XML is not well-formed at line {line}, column {col + 1}: {e}") from None
    if root.tag != "flow-definition":
        raise JobConfigError(
            f"unsupported job type <{root.tag}>: Dockyard runs pipeline jobs"
            " (<flow-definition> with CpsScmFlowDefinition or CpsFlowDefinition)"
        )
    cfg = JobConfig(
        description=(root.findtext("description") or "").strip(),
        disabled=(root.findtext("disabled") or "").strip() == "true",
        concurrent=(root.findtext("concurrentBuild") or "false").strip() == "true",
    )
    if (
        root.find(".//org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty")
        is not None
    ):
        cfg.concurrent = False
    for defs in root.iter("parameterDefinitions"):
        for p in defs:
            kind = {
                "hudson.model.StringParameterDefinition": "string",
                "hudson.model.TextParameterDefinition": "text",
                "hudson.model.BooleanParameterDefinition": "booleanParam",
                "hudson.model.ChoiceParameterDefinition": "choice",
                "hudson.model.PasswordParameterDefinition": "password",
            }.get(p.tag)
            if kind is None:
                raise JobConfigError(f"unsupported parameter type <{p.tag}>")
            choices = tuple(s.text or "" for s in p.iter("string")) if kind == "choice" else ()
            default: object = (p.findtext("defaultValue") or "").strip()
            if kind == "booleanParam":
                default = default == "true"
            cfg.parameters.append(
                Parameter(
                    kind,
                    (p.findtext("name") or "").strip(),
                    default,
                    (p.findtext("description") or "").strip(),
                    choices,
                )
            )
    definition = root.find("definition")
    if definition is None:
        raise JobConfigError("job XML has no <definition>: add a CpsScmFlowDefinition with a GitSCM")
    cls = definition.get("class", "")
    if cls == INLINE_DEFINITION:
        cfg.inline_script = definition.findtext("script") or ""
        if not cfg.inline_script.strip():
            raise JobConfigError("CpsFlowDefinition has an empty <script>")
        return cfg
    if cls != SCM_DEFINITION:
        raise JobConfigError(f"unsupported definition class {cls!r}: use {SCM_DEFINITION}")
    scm = definition.find("scm")
    if scm is None or scm.get("class") != "hudson.plugins.git.GitSCM":
        raise JobConfigError('the pipeline definition needs <scm class="hudson.plugins.git.GitSCM">')
    remotes = scm.findall("userRemoteConfigs/hudson.plugins.git.UserRemoteConfig")
    if len(remotes) != 1:
        raise JobConfigError(f"GitSCM needs exactly one UserRemoteConfig, found {len(remotes)}")
    cfg.scm_url = (remotes[0].findtext("url") or "").strip()
    if not cfg.scm_url:
        raise JobConfigError("GitSCM UserRemoteConfig has no <url>")
    cfg.credentials_id = (remotes[0].findtext("credentialsId") or "").strip()
    branches = [b.text.strip() for b in scm.findall("branches/hudson.plugins.git.BranchSpec/name") if b.text]
    if len(branches) > 1:
        raise JobConfigError("only one BranchSpec per job is supported")
    cfg.branch_spec = branches[0] if branches else "**"
    cfg.script_path = (definition.findtext("scriptPath") or "Jenkinsfile").strip()
    if cfg.script_path.startswith("/") or ".." in cfg.script_path.split("/"):
        raise JobConfigError(f"scriptPath {cfg.script_path!r} must be a path inside the repository")
    return cfg
