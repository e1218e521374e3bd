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
from dockyard.ci.scm import SECRET_NAME

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
# config.xml is readable by everyone who can see the job, so the secrets a URL carries leave as
# SECRET_MASK, the way Jenkins hands out Secrets only in a form that does not reveal them: the
# password of `http://user:pass@host/...`, a token written as the user name
# (`https://TOKEN@github.com/...`, http(s) only) and query values whose name says token, secret,
# password, key, signature or auth (`?access_token=...`); so does the default of a password
# parameter. Posting the masked form back (python-jenkins' get_job_config -> reconfig_job) keeps
# the stored secret.

SECRET_MASK = "****"
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"']+")
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/:@]*)(?::(?P<pw>[^/@]*))?@(?P<host>[^/?#]*)"
)
_SECRET_QUERY = re.compile(
    rf"[?&;](?P<name>[^=&;#]*(?:{SECRET_NAME.pattern})[^=&;#]*)=(?P<value>[^&;#]*)", re.I
)
_PASSWORD_PARAM = re.compile(
    r"<hudson\.model\.PasswordParameterDefinition>.*?</hudson\.model\.PasswordParameterDefinition>", re.S
)
_PARAM_NAME = re.compile(r"<name>(.*?)</name>", re.S)
_PARAM_DEFAULT = re.compile(r"(<defaultValue>)(.*?)(</defaultValue>)", re.S)


def _url_secrets(url: str) -> list[tuple[str, int, int]]:
    """(what it is, start, end) of each non-empty secret in `url`, in order. What it is names the
    secret without its value: the URL's scheme, user and host for userinfo, else the whole URL
    with those values blanked and the query name, so a masked form finds its stored value."""
    spans: list[tuple[str, int, int]] = []
    m = _USERINFO.match(url)
    if m and m["pw"] is not None:
        spans.append((f"{m['scheme']}{m['user']}:@{m['host']}", *m.span("pw")))
    elif m and m["scheme"].lower() in ("http://", "https://"):
        spans.append((f"{m['scheme']}@{m['host']}", *m.span("user")))
    query = url.find("?", m.end() if m else 0)
    if query >= 0:
        found = list(_SECRET_QUERY.finditer(url, query))
        blank = _replace(url, [(a, b) for _, a, b in spans] + [q.span("value") for q in found], "")
        spans += [(f"{blank}#{q['name']}", *q.span("value")) for q in found]
    return [(what, start, end) for what, start, end in spans if end > start]


def _replace(text: str, spans: list[tuple[int, int]], by: str) -> str:
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], by]
        last = end
    return "".join(out) + text[last:]


def _redact_url(url: str) -> str:
    return _replace(url, [(start, end) for _, start, end in _url_secrets(url)], SECRET_MASK)


def redact_job_xml(xml: str) -> str:
    """The job XML with every URL secret and password-parameter default replaced by SECRET_MASK."""
    xml = _URL.sub(lambda m: _redact_url(m[0]), xml)
    return _map_password_defaults(xml, lambda name, value: SECRET_MASK if value else value)


def restore_job_secrets(new_xml: str, old_xml: str) -> str:
    """`new_xml` with each SECRET_MASK put back from `old_xml` (same URL user and host, same
    query; same parameter name); a mask Dockyard has no secret for is an error naming it."""
    stored = {what: url[start:end] for url in _URL.findall(old_xml) for what, start, end in _url_secrets(url)}
    defaults: dict[str, str] = {}
    _map_password_defaults(old_xml, lambda name, value: defaults.setdefault(name, value))

    def url(m: re.Match[str]) -> str:
        secrets = _url_secrets(m[0])
        masked = [(what, start, end) for what, start, end in secrets if m[0][start:end] == SECRET_MASK]
        missing = [what for what, _, _ in masked if what not in stored]
        if missing:
            raise JobConfigError(
                f"the URL {_redact_url(m[0])} has a masked password or token that Dockyard does"
                " not have: send the real value, or use a credentialsId instead"
            )
        out, last = [], 0
        for what, start, end in masked:
            out += [m[0][last:start], stored[what]]
            last = end
        return "".join(out) + m[0][last:]

    def default(name: str, value: str) -> str:
        if value != SECRET_MASK:
            return value
        if name not in defaults:
            raise JobConfigError(
                f"password parameter {name!r} has a masked default that Dockyard does not have:"
                " send the real default value"
            )
        return defaults[name]

    return _map_password_defaults(_URL.sub(url, new_xml), default)


def _map_password_defaults(xml: str, fn: Callable[[str, str], str]) -> str:
    """Replace each PasswordParameterDefinition's <defaultValue> text by fn(name, value)."""

    def block(m: re.Match[str]) -> str:
        name_match = _PARAM_NAME.search(m[0])
        name = name_match[1].strip() if name_match else ""
        return _PARAM_DEFAULT.sub(lambda d: d[1] + fn(name, d[2]) + d[3], m[0])

    return _PASSWORD_PARAM.sub(block, xml)
