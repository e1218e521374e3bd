"""The step registry (`dockyard.ci.steps`) and the parameter-name deny-list (`dockyard.ci.params`)."""

from __future__ import annotations

import pytest

from dockyard.ci import forbidden_env_name
from dockyard.ci.errors import Pos
from dockyard.ci.jenkinsfile import STEPS as PARSED_STEPS
from dockyard.ci.model import Step as Call
from dockyard.ci.steps import STEPS, Step, StepFailed, UnknownStep, step_for


def test_every_step_the_parsers_accept_has_a_module() -> None:
    assert set(PARSED_STEPS) <= set(STEPS), set(PARSED_STEPS) - set(STEPS)
    for name, cls in STEPS.items():
        assert issubclass(cls, Step) and cls.name == name
        assert cls.__module__.startswith("dockyard.ci.steps."), cls


def test_step_for_picks_the_module_by_name() -> None:
    step = step_for(Call("sh", {"script": "true"}))
    assert type(step).__module__ == "dockyard.ci.steps.sh" and step.args == {"script": "true"}


def test_an_unknown_step_is_a_clear_error() -> None:
    with pytest.raises(UnknownStep) as e:
        step_for(Call("frobnicate", {}, pos=Pos("Jenkinsfile", 7, 9)))
    message = str(e.value)
    assert message.startswith("Jenkinsfile:7:9: unknown step 'frobnicate'")
    assert "sh" in message and "withCredentials" in message  # names the steps that exist
    assert isinstance(e.value, StepFailed)  # the build fails with it, never a crash


@pytest.mark.parametrize(
    "name",
    [
        "PS4",
        "PS1",
        "ENV",
        "BASH_ENV",
        "BASH_FUNC_ls%%",
        "IFS",
        "PATH",
        "HOME",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "GIT_CONFIG_COUNT",
        "GIT_SSH_COMMAND",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONWARNINGS",
        "PERL5OPT",
        "PERL5DB",
        "NODE_OPTIONS",
        "JAVA_TOOL_OPTIONS",
        "OPENSSL_CONF",
        "https_proxy",
        "HTTP_PROXY",
        "DOCKYARD_TRACE_EVENTS",
        "1ABC",
        "A-B",
        "",
    ],
)
def test_names_the_shell_or_loader_interpret_are_forbidden(name: str) -> None:
    assert forbidden_env_name(name)


@pytest.mark.parametrize("name", ["IMAGE_TAG", "DEPLOY_ENV", "path", "env", "Version", "_x", "TARGET_GIT"])
def test_ordinary_parameter_names_are_allowed(name: str) -> None:
    assert forbidden_env_name(name) is None


def test_the_reason_names_what_interprets_the_name() -> None:
    assert "sh -x" in (forbidden_env_name("PS4") or "")
    assert "rename the parameter" in (forbidden_env_name("PS4") or "")
    assert "loader" in (forbidden_env_name("LD_PRELOAD") or "")
