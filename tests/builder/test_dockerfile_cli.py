"""`dockyard dockerfile parse` through the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TUTORIAL = Path(__file__).resolve().parent.parent / "fixtures" / "dockerfiles" / "good" / \
    "tutorial.Dockerfile"


def dockyard(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockyard", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_parse_prints_stages_and_instructions() -> None:
    result = dockyard("dockerfile", "parse", str(TUTORIAL))
    assert result.returncode == 0, result.stderr
    assert "stage 0: FROM alpine:3.20" in result.stdout
    assert 'RUN echo "Hello from Kaniko" > /hello.txt' in result.stdout


def test_parse_json() -> None:
    result = dockyard("dockerfile", "parse", "--json", str(TUTORIAL))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    cmd = document["stages"][0]["instructions"][1]
    assert cmd["type"] == "CmdInstruction" and cmd["command"] == ["cat", "/hello.txt"]


def test_parse_target_lists_needed_stages() -> None:
    text = "FROM busybox AS a\nFROM busybox AS b\nFROM b AS c\nCOPY --from=a / /\n"
    result = dockyard("dockerfile", "parse", "-", "--target", "c", "--json", stdin=text)
    assert json.loads(result.stdout)["stages_needed"] == [0, 1, 2]


def test_bad_dockerfile_exits_1_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM busybox\nCOPY --form=x a b\n")
    result = dockyard("dockerfile", "parse", str(bad))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"{bad}:2: Unknown flag: form (did you mean --from?)"
    )


def test_missing_file_exits_1(tmp_path: Path) -> None:
    result = dockyard("dockerfile", "parse", str(tmp_path / "nope"))
    assert result.returncode == 1 and "cannot read" in result.stderr


def test_context_lists_what_dockerignore_lets_through() -> None:
    context = TUTORIAL.parent.parent / "corpus" / "compare" / "dockerignore" / "context"
    result = dockyard("dockerfile", "context", str(context))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [".dockerignore", "docs/README.md", "keep.log",
                                     "src/deep/keep.tmp", "src/main.c", "top.txt"]
    excluded = dockyard("dockerfile", "context", "--excluded", str(context)).stdout.split()
    assert "secret/" in excluded and "src/deep/x.tmp" in excluded


def test_context_reports_bad_ignore_patterns(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("ok\nbad[\n")
    result = dockyard("dockerfile", "context", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith(".dockerignore:2: bad pattern 'bad['")
