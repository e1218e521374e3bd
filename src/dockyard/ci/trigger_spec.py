"""The declarative `triggers { }` section, checked when the Jenkinsfile is parsed: `cron(spec)`,
`pollSCM(spec)` (Jenkins' `TimerTrigger` and `SCMTrigger`) and `upstream(upstreamProjects:,
threshold:)` (`ReverseBuildTrigger`). A malformed spec is refused with file:line:column and
Jenkins' reason; a valid one becomes a `Call` with normalised arguments (`spec`, or `projects`
and `threshold`), registered on the job after the run that read it (`dockyard.ci.triggers`)."""

from __future__ import annotations

from typing import Any, Protocol

from dockyard.ci.cron import CronError, parse_cron
from dockyard.ci.errors import JenkinsfileError, Pos
from dockyard.ci.model import Call, Options

__all__ = [
    "THRESHOLDS",
    "YAML_JOB_OPTIONS",
    "check_parameters",
    "job_option",
    "trigger_call",
    "unique_triggers",
    "yaml_triggers",
]

# ReverseBuildTrigger's threshold: the upstream result at least this good starts the build
THRESHOLDS = ("SUCCESS", "UNSTABLE", "FAILURE")
_NAMED = {"cron": ("spec",), "pollSCM": ("scmpoll_spec", "ignorePostCommitHooks")}


def trigger_call(name: str, args: list[Any], kwargs: dict[str, Any], block: object, pos: Pos) -> Call:
    """One entry of `triggers { }` as a checked `Call`; JenkinsfileError names what is wrong."""
    if name == "triggers":
        raise JenkinsfileError("triggers { } cannot be nested: list cron(...), pollSCM(...) directly", pos)
    if block is not None:
        raise JenkinsfileError(f"trigger '{name}' does not take a {{ ... }} block", pos)
    if name in _NAMED:
        return Call(name, (), {"spec": _spec(name, args, kwargs, pos)}, pos)
    if name == "upstream":
        return _upstream(args, kwargs, pos)
    raise JenkinsfileError(f"trigger '{name}' is not supported (supported: cron, pollSCM, upstream)", pos)


def unique_triggers(calls: tuple[Call, ...]) -> tuple[Call, ...]:
    """A job has one trigger of each kind (Jenkins keys them by type)."""
    seen: set[str] = set()
    for call in calls:
        if call.name in seen:
            raise JenkinsfileError(
                f"trigger '{call.name}' appears twice: one spec may hold several lines", call.pos
            )
        seen.add(call.name)
    return calls


def _spec(name: str, args: list[Any], kwargs: dict[str, Any], pos: Pos) -> str:
    key, *optional = _NAMED[name]
    extra = set(kwargs) - {key, *optional}
    if extra:
        raise JenkinsfileError(f"{name}: unknown argument(s) {', '.join(sorted(extra))}", pos)
    values = [*args, *([kwargs[key]] if key in kwargs else [])]
    if len(values) != 1 or not isinstance(values[0], str):
        raise JenkinsfileError(
            f"{name} takes one quoted spec such as {name}('H 2 * * *') (no ${{...}} interpolation)", pos
        )
    spec = values[0]
    try:
        parse_cron(spec)
    except CronError as e:
        raise JenkinsfileError(f"{name}: {e}", pos) from None
    return spec


def _upstream(args: list[Any], kwargs: dict[str, Any], pos: Pos) -> Call:
    extra = set(kwargs) - {"upstreamProjects", "threshold"}
    if args or extra:
        raise JenkinsfileError(
            "upstream takes upstreamProjects: 'a,b' and threshold: hudson.model.Result.SUCCESS", pos
        )
    raw = kwargs.get("upstreamProjects")
    if not isinstance(raw, str) or not raw.strip():
        raise JenkinsfileError("upstream needs upstreamProjects: 'job-a,job-b'", pos)
    projects = tuple(p.strip() for p in raw.split(",") if p.strip())
    threshold = kwargs.get("threshold", "SUCCESS")
    threshold = str(getattr(threshold, "name", threshold)).rpartition(".")[2]
    if threshold not in THRESHOLDS:
        raise JenkinsfileError(
            f"upstream threshold: one of {', '.join('hudson.model.Result.' + t for t in THRESHOLDS)}", pos
        )
    return Call("upstream", (), {"projects": projects, "threshold": threshold}, pos)


MAX_QUIET_PERIOD = 86400  # a day: longer is a typo, not a plan


def job_option(opts: Options, name: str, args: list[Any], kwargs: dict[str, Any], pos: Pos) -> None:
    """`options { quietPeriod(N) }` and `skipDefaultCheckout()` (job properties, as triggers)."""
    if name == "skipDefaultCheckout":
        flag = kwargs.get("value", args[0] if args else True)
        if len(args) + len(kwargs) > 1 or set(kwargs) - {"value"} or not isinstance(flag, bool):
            raise JenkinsfileError("skipDefaultCheckout takes no arguments (or true/false)", pos)
        opts.skip_default_checkout = flag
        return
    values = [*args, *kwargs.values()]
    seconds = values[0] if len(values) == 1 and set(kwargs) <= {"quietPeriod"} else None
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 <= seconds <= MAX_QUIET_PERIOD:
        raise JenkinsfileError(
            f"quietPeriod takes the seconds a queued build waits, 0 to {MAX_QUIET_PERIOD}: quietPeriod(30)",
            pos,
        )
    opts.quiet_period = seconds


PARAMETER_KINDS = ("string", "text", "booleanParam", "password", "choice")


def check_parameters(value: Any) -> str | None:
    """Why `parameters:` is not a list of `string(name:, value:)`-style values, or None."""
    if not isinstance(value, list):
        return "build parameters: a list such as [string(name: 'X', value: 'y')]"
    for p in value:
        if not isinstance(p, Call) or p.name not in PARAMETER_KINDS or p.args:
            kinds = ", ".join(k + "(name:, value:)" for k in PARAMETER_KINDS)
            return f"build parameters: each one of {kinds}"
        if set(p.kwargs) - {"name", "value", "description"} or not isinstance(p.kwargs.get("name"), str):
            return f"build parameters: {p.name}(name: 'X', value: ...) takes name: and value:"
    return None


YAML_JOB_OPTIONS = frozenset({"quietPeriod", "skipDefaultCheckout"})


class _YamlFront(Protocol):
    """What `yaml_triggers` uses of `.dockyard.yml`'s parser (positions and checked mappings)."""

    def pos(self, node: Any, key: Any = None) -> Pos: ...

    def mapping(
        self, node: Any, where: str, allowed: set[str], parent: Any = None, key: Any = None
    ) -> dict[Any, Any]: ...


def yaml_triggers(front: _YamlFront, value: Any, parent: Any) -> tuple[Call, ...]:
    """`.dockyard.yml`'s `triggers: {cron: 'H 2 * * *', pollSCM: 'H/5 * * * *', upstream:
    {projects: [a, b], threshold: SUCCESS}}`, checked as the Jenkinsfile's are."""
    if value is None:
        return ()
    m = front.mapping(value, "triggers", {"cron", "pollSCM", "upstream"}, parent, "triggers")
    out = []
    for kind, spec in m.items():
        pos = front.pos(m, kind)
        if kind == "upstream":
            u = front.mapping(spec, "triggers.upstream", {"projects", "threshold"}, m, kind)
            projects = u.get("projects")
            if isinstance(projects, list):
                projects = ",".join(str(p) for p in projects)
            kwargs = {"upstreamProjects": projects, "threshold": u.get("threshold", "SUCCESS")}
            out.append(trigger_call("upstream", [], kwargs, None, pos))
        else:
            out.append(trigger_call(kind, [spec], {}, None, pos))
    return tuple(out)
