"""The pipeline model both front ends (Jenkinsfile, `.dockyard.yml`) compile to; the runner reads
only this. Values are plain Python data plus `GString` (interpolated at run time) and `Call`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard.ci.errors import Pos

__all__ = [
    "Agent",
    "Call",
    "Condition",
    "EnvVar",
    "GString",
    "Interp",
    "Options",
    "Parameter",
    "Pipeline",
    "Post",
    "Stage",
    "StageInput",
    "Step",
    "POST_CONDITIONS",
]

# Run order of post blocks, as Jenkins runs them.
POST_CONDITIONS = (
    "always",
    "changed",
    "fixed",
    "regression",
    "aborted",
    "failure",
    "success",
    "unstable",
    "unsuccessful",
    "cleanup",
)


@dataclass(frozen=True)
class Interp:
    """`${expr}` inside a GString: `expr` is its text; `code` its parsed Groovy expression
    (`dockyard.ci.groovy.ast`), evaluated by the interpreter when it is more than a name."""

    expr: str
    pos: Pos
    code: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class GString:
    """An interpolating string: literal text and `Interp` parts in order."""

    parts: tuple[str | Interp, ...]


@dataclass(frozen=True)
class Call:
    """A function-call value such as `credentials('id')` or `logRotator(numToKeepStr: '5')`."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    pos: Pos


@dataclass(frozen=True)
class Agent:
    kind: str  # any | none | label | kubernetes
    label: str = ""
    pod_yaml: str = ""
    default_container: str = ""
    pos: Pos | None = None


@dataclass(frozen=True)
class EnvVar:
    """`NAME = value`; `credential_id` set for `NAME = credentials('id')`."""

    name: str
    value: str | GString = ""
    credential_id: str = ""
    pos: Pos | None = None
    code: Any = field(default=None, compare=False)  # a Groovy expression (`sh(...).trim()`)


@dataclass(frozen=True)
class Parameter:
    kind: str  # string | text | booleanParam | choice | password
    name: str
    default: Any = ""
    description: str = ""
    choices: tuple[str, ...] = ()


@dataclass
class Options:
    timeout_seconds: float | None = None
    disable_concurrent: bool = False
    keep_builds: int | None = None
    timestamps: bool = False
    ansi_color: str = ""  # options { ansiColor('xterm') }: TERM for the steps
    disable_restart: bool = False  # disableRestartFromStage()
    preserve_stashes: int | None = None  # preserveStashes(buildCount: N): completed builds keeping theirs
    quiet_period: int | None = None  # options { quietPeriod(N) }: seconds queued builds wait
    skip_default_checkout: bool = False  # options { skipDefaultCheckout() }: `checkout scm` does it
    parallels_always_fail_fast: bool = False  # options { parallelsAlwaysFailFast() }


@dataclass(frozen=True)
class Condition:
    """`when` conditions: branch (glob), environment (name/value), not/allOf/anyOf (children),
    expression (`code`)."""

    kind: str
    pattern: str = ""
    name: str = ""
    value: str = ""
    children: tuple[Condition, ...] = ()
    code: Any = field(default=None, compare=False)  # `expression { ... }`: a Groovy block


@dataclass(frozen=True)
class Step:
    """One step call; `args` are validated per step by the front end; `body` for block steps."""

    name: str
    args: dict[str, Any]
    body: tuple[Step, ...] | None = None
    pos: Pos | None = None


@dataclass(frozen=True)
class StageInput:
    """A stage's `input { message; id; ok; submitter; submitterParameter; parameters { } }`
    (dockyard.ci.stage_input runs it): the stage waits for it before its `when` (unless
    `beforeInput`), and its answers become the stage's environment."""

    message: str | GString
    id: str | GString = ""  # "": from the stage's name, as Jenkins does
    ok: str | GString = ""
    submitter: str | GString = ""
    submitter_parameter: str = ""
    parameters: tuple[Parameter, ...] = ()
    pos: Pos | None = None
    known: tuple[tuple[str, str], ...] = ()  # variables set before it is asked (a matrix cell's axes)


@dataclass
class Post:
    blocks: dict[str, tuple[Step, ...]] = field(default_factory=dict)


@dataclass
class Stage:
    name: str
    steps: tuple[Step, ...] = ()
    parallel: tuple[Stage, ...] = ()
    stages: tuple[Stage, ...] = ()
    agent: Agent | None = None
    environment: tuple[EnvVar, ...] = ()
    when: tuple[Condition, ...] = ()
    options: Options = field(default_factory=Options)
    post: Post = field(default_factory=Post)
    pos: Pos | None = None
    fail_fast: bool = False  # failFast true: a failing branch of `parallel` stops the others
    input: StageInput | None = None  # input { }: asked before `when`, unless when_before_input
    when_before_input: bool = False  # when { beforeInput true } (or beforeOptions true)


@dataclass
class Pipeline:
    agent: Agent
    stages: tuple[Stage, ...]
    environment: tuple[EnvVar, ...] = ()
    options: Options = field(default_factory=Options)
    parameters: tuple[Parameter, ...] = ()
    triggers: tuple[Call, ...] = ()
    post: Post = field(default_factory=Post)
    source: str = "Jenkinsfile"
