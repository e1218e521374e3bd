"""The refused corpus: every file fails at parse time with file:line:column naming the construct."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.ci.jenkinsfile import JenkinsfileError, parse_jenkinsfile

CORPUS = sorted((Path(__file__).parents[2] / "fixtures" / "jenkinsfiles" / "refused").glob("*.groovy"))


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_refused_at_parse_time_with_position(path: Path) -> None:
    source = path.read_text()
    expected = source.splitlines()[0].removeprefix("// expect: ")
    with pytest.raises(JenkinsfileError) as info:
        parse_jenkinsfile(source)
    assert str(info.value).startswith(expected), str(info.value)


def test_refused_corpus_size() -> None:
    assert len(CORPUS) >= 15
