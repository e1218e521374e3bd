"""The arguments each pipeline step takes, shared by the declarative front end (checked at parse
time) and the Groovy interpreter (step calls in `script { }`, also checked at parse time when the
argument names are literal)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepSpec:
    """Arguments a step takes: `positional` names the single unnamed argument."""

    positional: str | None
    named: frozenset[str]
    required: tuple[str, ...] = ()
    block: bool = False


def _spec(
    positional: str | None, *named: str, required: tuple[str, ...] = (), block: bool = False
) -> StepSpec:
    names = frozenset(named) | ({positional} if positional else set())
    return StepSpec(positional, names, required, block)


STEPS: dict[str, StepSpec] = {
    "sh": _spec("script", "label", "encoding", "returnStdout", "returnStatus", required=("script",)),
    "echo": _spec("message", required=("message",)),
    "error": _spec("message", required=("message",)),
    "unstable": _spec("message", required=("message",)),
    "container": _spec("name", "shell", required=("name",), block=True),
    "dir": _spec("path", required=("path",), block=True),
    "withCredentials": _spec("bindings", required=("bindings",), block=True),
    "withEnv": _spec("vars", required=("vars",), block=True),
    "archiveArtifacts": _spec(
        "artifacts",
        "allowEmptyArchive",
        "fingerprint",
        "onlyIfSuccessful",
        "excludes",
        required=("artifacts",),
    ),
    "checkout": _spec("scm", required=("scm",)),
    "sleep": _spec("time", "unit", required=("time",)),
    "retry": _spec("count", required=("count",), block=True),
    "timeout": _spec("time", "unit", required=("time",), block=True),
    # dockyard.gitops: patch image references in a deploy repository, commit, push with retries
    "gitopsSetImage": _spec(
        None,
        "repo",
        "path",
        "image",
        "images",
        "credentialsId",
        "branch",
        "message",
        "sourceCommit",
        "maxAttempts",
        required=("repo",),
    ),
    # workspace files (pipeline-utility-steps names); paths stay inside the workspace
    "writeFile": _spec(None, "file", "text", "encoding", required=("file", "text")),
    "readFile": _spec("file", "encoding", required=("file",)),
    "fileExists": _spec("file", required=("file",)),
    "readJSON": _spec(None, "file", "text", "returnPojo"),
    "writeJSON": _spec(None, "file", "json", "pretty", "returnText", required=("json",)),
    "readYaml": _spec(None, "file", "text"),
    "writeYaml": _spec(None, "file", "data", "overwrite", "returnText", required=("data",)),
    "deleteDir": _spec(None),
    "cleanWs": _spec(None, "deleteDirs", "disableDeferredWipeout", "notFailBuild"),
    # results
    "catchError": _spec(None, "buildResult", "stageResult", "message", block=True),
    "warnError": _spec("message", required=("message",), block=True),
    "waitUntil": _spec(None, "initialRecurrencePeriod", "quiet", block=True),
    "timestamps": _spec(None, block=True),
    "ansiColor": _spec("colorMapName", required=("colorMapName",), block=True),
    "junit": _spec("testResults", "allowEmptyResults", required=("testResults",)),
    "stash": _spec("name", "includes", "excludes", "allowEmpty", "useDefaultExcludes", required=("name",)),
    "unstash": _spec("name", required=("name",)),
    "build": _spec("job", "parameters", "wait", "propagate", required=("job",)),
    "input": _spec("message", "ok", "submitter", "id", "parameters", required=("message",)),
}
# pipeline-utility-steps spells them readYaml/writeYaml; the issue and many files say YAML
STEPS["readYAML"] = STEPS["readYaml"]
STEPS["writeYAML"] = STEPS["writeYaml"]

# ansiColor's color maps (as Jenkins' AnsiColor plugin names them)
COLOR_MAPS = ("xterm", "vga", "css", "gnome-terminal")
