"""Runner-side limits of issue 10: parallel branches limited per build (DOCKYARD_CI_MAX_PARALLEL,
default 16), password parameters masked in the console, and build parameters that may never set
an environment name the shell or loader interprets (PS4, LD_PRELOAD, BASH_ENV...).

The runner checks are defense in depth behind the HTTP API: `run_build` drives the real scheduler,
runner and local executor without the API in front, so a parameter the API would refuse still
reaches the runner here; the HTTP tests go through a live server with the Jenkins API.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from dockyard.auth import MIGRATIONS as AUTH_MIGRATIONS
from dockyard.auth import AuthService
from dockyard.ci import MIGRATIONS as CI_MIGRATIONS
from dockyard.ci.service import CIService
from dockyard.ci.store import Build
from dockyard.config import Settings
from dockyard.events import EventBus
from dockyard.store import Database
from tests.ci.builds import finished
from tests.ci.conftest import Jenkins, inline_job_xml, unique


def run_build(
    tmp_path: Path, xml: str, queued_params: dict[str, Any] | None = None, **service: Any
) -> tuple[Build, str]:
    """Create a job, queue one build and run the real scheduler until it finishes.
    `queued_params` go straight into the queue, past the checks of `CIService.trigger` (the API's),
    so that what the runner itself does with them shows."""

    async def main() -> tuple[Build, str]:
        db = Database(tmp_path / "db.sqlite")
        db.migrate([*AUTH_MIGRATIONS, *CI_MIGRATIONS])
        ci = CIService(
            db, AuthService(db), EventBus(), tmp_path / "ci", lambda: "http://127.0.0.1:1", **service
        )
        await ci.start()
        try:
            job = ci.store.create_job("job", xml)
            if queued_params is None:
                build = ci.trigger(job, {}, "test")
            else:
                build = ci.scheduler.enqueue(job, cause="test", params=queued_params)
            return await finished(ci, "job", build.number, tmp_path / "ci", timeout=120)
        finally:
            await ci.stop()

    return asyncio.run(main())


# Each branch registers itself in running/, records how many branches are running, waits until
# `limit` are (or 20 s pass), records again, then leaves. No count may ever exceed the limit, and
# with more branches than the limit the first ones see exactly `limit`.
BRANCH = """stage('b{n}') {{ steps {{ sh '''
D="$WORKSPACE/par"; mkdir -p "$D/running"; touch "$D/running/{n}"
ls "$D/running" | wc -l >> "$D/counts"
i=0
while [ "$(ls "$D/running" | wc -l)" -lt {limit} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
ls "$D/running" | wc -l >> "$D/counts"
sleep 0.2
rm "$D/running/{n}"
''' }} }}"""


def parallel_script(branches: int, limit: int) -> str:
    body = "\n".join(BRANCH.format(n=n, limit=limit) for n in range(branches))
    return f"pipeline {{ agent any\n stages {{ stage('fan') {{ parallel {{\n{body}\n}} }} }} }}"


def counts(tmp_path: Path) -> list[int]:
    return [
        int(x) for x in (tmp_path / "ci" / "job" / "1" / "workspace" / "par" / "counts").read_text().split()
    ]


def test_at_most_16_parallel_branches_run_at_once_by_default(tmp_path: Path) -> None:
    build, log = run_build(tmp_path, inline_job_xml(parallel_script(20, 16)))
    assert build.result == "SUCCESS", log
    seen = counts(tmp_path)
    assert len(seen) == 40, seen  # every branch ran
    assert max(seen) == 16, seen


def test_the_parallel_limit_is_a_setting(tmp_path: Path) -> None:
    settings = Settings.from_environ({"DOCKYARD_CI_MAX_PARALLEL": "3"})
    build, log = run_build(tmp_path, inline_job_xml(parallel_script(7, 3)),
                           max_parallel=settings.ci_max_parallel)
    assert build.result == "SUCCESS", log
    seen = counts(tmp_path)
    assert len(seen) == 14 and max(seen) == 3, seen


def test_a_bad_parallel_limit_names_the_setting() -> None:
    with pytest.raises(ValueError, match="DOCKYARD_CI_MAX_PARALLEL must be a positive integer"):
        Settings.from_environ({"DOCKYARD_CI_MAX_PARALLEL": "lots"})


def declared(*params: tuple[str, str, str]) -> str:
    """Job XML <properties> declaring (kind, name, default) parameters."""
    tags = {
        "string": "hudson.model.StringParameterDefinition",
        "password": "hudson.model.PasswordParameterDefinition",
    }
    defs = "".join(
        f"<{tags[kind]}><name>{name}</name><defaultValue>{default}</defaultValue></{tags[kind]}>"
        for kind, name, default in params
    )
    return (
        "<properties><hudson.model.ParametersDefinitionProperty><parameterDefinitions>"
        f"{defs}</parameterDefinitions></hudson.model.ParametersDefinitionProperty></properties>"
    )


@pytest.mark.parametrize(
    "name,value",
    [
        ("PS4", "+$(touch {marker} >&2)"),
        ("BASH_ENV", "{marker}.sh"),
        ("ENV", "{marker}.sh"),
        ("LD_PRELOAD", "{marker}.so"),
        ("GIT_CONFIG_COUNT", "1"),
    ],
)
def test_a_parameter_never_sets_a_shell_or_loader_variable(tmp_path: Path, name: str, value: str) -> None:
    """However it got into the queue: the build fails before any step, naming the parameter."""
    marker = tmp_path / "pwned"
    (tmp_path / "pwned.sh").write_text(f"touch {marker}\n")
    script = "pipeline { agent any\n stages { stage('s') { steps { sh 'set -x; echo step ran; id' } } } }"
    build, log = run_build(tmp_path, inline_job_xml(script), {name: value.format(marker=marker)})
    assert build.result == "FAILURE", log
    assert f"ERROR: parameter name '{name}' is not allowed: {name} is" in log, log
    assert "rename the parameter" in log
    assert "step ran" not in log and "uid=" not in log
    assert not marker.exists()


def test_a_pipeline_may_not_declare_a_forbidden_parameter(tmp_path: Path) -> None:
    script = (
        "pipeline { agent any\n parameters { string(name: 'PS4', defaultValue: '+$(id)') }\n"
        " stages { stage('s') { steps { sh 'set -x; id' } } } }"
    )
    build, log = run_build(tmp_path, inline_job_xml(script))
    assert build.result == "FAILURE", log
    assert "parameter name 'PS4' is not allowed" in log and "uid=" not in log


def job_with_params(script: str, properties: str) -> str:
    xml = inline_job_xml(script)
    head, sep, rest = xml.partition("<definition")
    assert sep, xml
    return head + properties + sep + rest


PASSWORD_SCRIPT = """pipeline {
  agent any
  parameters { password(name: 'PIPELINE_PW', defaultValue: 'pipeline-default-secret-77') }
  stages {
    stage('s') {
      steps {
        sh 'echo "job pw=$DEPLOY_PW"; echo "$DEPLOY_PW" | base64'
        echo "interpolated ${params.DEPLOY_PW} and ${PIPELINE_PW}"
        sh 'echo "pipeline pw=$PIPELINE_PW"'
      }
    }
  }
}
"""


def test_password_parameters_are_masked_in_the_console(jenkins: Jenkins) -> None:
    secret = "hunter2-deploy-secret-value"
    name = unique("pwparam")
    jenkins.create(
        name, job_with_params(PASSWORD_SCRIPT, declared(("password", "DEPLOY_PW", "job-default-pw-55")))
    )
    info, log = jenkins.run(name, DEPLOY_PW=secret)
    assert info["result"] == "SUCCESS", log
    assert "job pw=****" in log and "pipeline pw=****" in log and "interpolated **** and ****" in log
    for value in (secret, "pipeline-default-secret-77"):
        assert value not in log
    assert base64.b64encode(secret.encode()).decode()[:20] not in log  # encoded forms too
    # the default of a password parameter is a secret as well
    info, log = jenkins.run(name)
    assert info["result"] == "SUCCESS", log
    assert "job pw=****" in log and "job-default-pw-55" not in log


def test_ps4_through_the_jenkins_api_never_runs(jenkins: Jenkins, tmp_path: Path) -> None:
    """The issue's reproduction: refused by the API (400), or, where it gets through, by the runner."""
    marker = tmp_path / "api-pwned"
    name = unique("ps4")
    script = "pipeline { agent any\n stages { stage('s') { steps { sh 'set -x; echo step ran' } } } }"
    jenkins.create(name, inline_job_xml(script))
    r = jenkins.http.post(f"/job/{name}/buildWithParameters", params={"PS4": f"+$(touch {marker} >&2)"})
    if r.status_code == 201:
        queue_id = int(r.headers["location"].rstrip("/").rsplit("/", 1)[1])
        number = jenkins.number_of(queue_id)
        info = jenkins.wait(name, number)
        log = jenkins.console(name, number)
        assert info["result"] == "FAILURE" and "parameter name 'PS4' is not allowed" in log, log
        assert "step ran" not in log
    else:
        assert r.status_code == 400, r.text
    assert not marker.exists()
