"""`.dockyard.yml`'s triggers and job options: the Jenkinsfile's, checked the same way, with
file:line:column for a bad spec."""

from __future__ import annotations

import pytest

from dockyard.ci.errors import PipelineError
from dockyard.ci.yamlpipeline import parse_yaml_pipeline

STAGES = "stages:\n  - name: x\n    steps: [ls]\n"


def test_triggers_and_options() -> None:
    p = parse_yaml_pipeline(
        "triggers:\n  cron: 'TZ=UTC\n\n    H 2 * * *'\n  pollSCM: H/5 * * * *\n"
        "  upstream: {projects: [lib, api], threshold: UNSTABLE}\n"
        "options: {quietPeriod: 30, skipDefaultCheckout: true}\n" + STAGES
    )
    assert [(c.name, c.kwargs) for c in p.triggers] == [
        ("cron", {"spec": "TZ=UTC\nH 2 * * *"}),
        ("pollSCM", {"spec": "H/5 * * * *"}),
        ("upstream", {"projects": ("lib", "api"), "threshold": "UNSTABLE"}),
    ]
    assert p.options.quiet_period == 30 and p.options.skip_default_checkout


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "triggers:\n  cron: 61 * * * *\n",
            '.dockyard.yml:2:3: cron: Invalid input: "61 * * * *": line 1:0: 61 is an invalid value.',
        ),
        ("triggers:\n  timer: H * * * *\n", ".dockyard.yml:2:3: unknown key 'timer'"),
        (
            "triggers:\n  upstream: {projects: [a], threshold: ABORTED}\n",
            ".dockyard.yml:2:3: upstream threshold",
        ),
        ("options: {quietPeriod: soon}\n", ".dockyard.yml:1:11: quietPeriod takes the seconds"),
    ],
)
def test_refusals(source: str, expected: str) -> None:
    with pytest.raises(PipelineError) as info:
        parse_yaml_pipeline(source + STAGES)
    assert str(info.value).startswith(expected), str(info.value)
