"""Jenkins job XML (`flow-definition`) in and out: what createItem and config.xml carry.

Only pipeline jobs are accepted: `CpsScmFlowDefinition` with a `GitSCM` (the tutorial's C.3) or
`CpsFlowDefinition` with an inline script. Anything else is refused with a message naming it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard.ci.model import Parameter
from dockyard.ci.params import forbidden_env_name

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
            name = (p.findtext("name") or "").strip()
            why = forbidden_env_name(name)
            if why:
                raise JobConfigError(why)
            choices = tuple(s.text or "" for s in p.iter("string")) if kind == "choice" else ()
            default: object = (p.findtext("defaultValue") or "").strip()
            if kind == "booleanParam":
                default = default == "true"
            cfg.parameters.append(
                Parameter(
                    kind,
                    name,
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


# -- secrets in job XML ------------------------------------------------------------------------
# config.xml is readable by everyone who can see the job, so the password of a clone URL
# (`http://user:pass@host/...`) and the default of a password parameter leave as SECRET_MASK,
# the way Jenkins hands out Secrets only in a form that does not reveal them. Posting the masked
# form back (python-jenkins' get_job_config -> reconfig_job) keeps the stored secret.

SECRET_MASK = "****"
_URL_PASSWORD = re.compile(
    r"(?P<pre>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@<>\"']+:)(?P<pw>[^@\s/<>\"']*)@(?P<host>[^/\s<>\"']*)"
)
_PASSWORD_PARAM = re.compile(
    r"<hudson\.model\.PasswordParameterDefinition>.*?</hudson\.model\.PasswordParameterDefinition>", re.S
)
_PARAM_NAME = re.compile(r"<name>(.*?)</name>", re.S)
_PARAM_DEFAULT = re.compile(r"(<defaultValue>)(.*?)(</defaultValue>)", re.S)


def redact_job_xml(xml: str) -> str:
    """The job XML with every URL password and password-parameter default replaced by SECRET_MASK."""
    xml = _URL_PASSWORD.sub(lambda m: f"{m['pre']}{SECRET_MASK if m['pw'] else ''}@{m['host']}", xml)
    return _map_password_defaults(xml, lambda name, value: SECRET_MASK if value else value)


def restore_job_secrets(new_xml: str, old_xml: str) -> str:
    """`new_xml` with each SECRET_MASK put back from `old_xml` (same URL user and host, same
    parameter name); a mask Dockyard has no secret for is an error naming it."""
    urls = {(m["pre"], m["host"]): m["pw"] for m in _URL_PASSWORD.finditer(old_xml)}
    defaults: dict[str, str] = {}
    _map_password_defaults(old_xml, lambda name, value: defaults.setdefault(name, value))

    def url(m: re.Match[str]) -> str:
        if m["pw"] != SECRET_MASK:
            return m[0]
        key = (m["pre"], m["host"])
        if key not in urls:
            raise JobConfigError(
                f"the URL {m['pre']}{SECRET_MASK}@{m['host']} has a masked password that Dockyard does"
                " not have: send the real password, or use a credentialsId instead"
            )
        return f"{m['pre']}{urls[key]}@{m['host']}"

    def default(name: str, value: str) -> str:
        if value != SECRET_MASK:
            return value
        if name not in defaults:
            raise JobConfigError(
                f"password parameter {name!r} has a masked default that Dockyard does not have:"
                " send the real default value"
            )
        return defaults[name]

    return _map_password_defaults(_URL_PASSWORD.sub(url, new_xml), default)


def _map_password_defaults(xml: str, fn: Callable[[str, str], str]) -> str:
    """Replace each PasswordParameterDefinition's <defaultValue> text by fn(name, value)."""

    def block(m: re.Match[str]) -> str:
        name_match = _PARAM_NAME.search(m[0])
        name = name_match[1].strip() if name_match else ""
        return _PARAM_DEFAULT.sub(lambda d: d[1] + fn(name, d[2]) + d[3], m[0])

    return _PASSWORD_PARAM.sub(block, xml)
