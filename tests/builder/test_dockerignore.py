""".dockerignore matching, cases after moby/patternmatcher's tests plus the ignorefile reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.builder.dockerignore import (
    DockerignoreError,
    IgnoreMatcher,
    load_ignore,
    read_patterns,
)

# (pattern, path, excluded) -- MatchesOrParentMatches with a single pattern
CASES = [
    ("**", "file", True),
    ("**/", "file", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**/**", "dir/file", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/dir2/file", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    # anchored at the root, unlike .gitignore
    ("foo", "foo", True),
    ("foo", "sub/foo", False),
    ("/foo", "foo", True),
    ("foo/", "foo/bar", True),
    ("./foo/../bar", "bar/x", True),
    ("*", "dir/file", True),  # matches the parent "dir"
    ("*.md", "docs/a.md", False),
    ("*/*.md", "docs/a.md", True),
]


@pytest.mark.parametrize(("pattern", "path", "excluded"), CASES,
                         ids=[f"{p}~{f}" for p, f, _ in CASES])
def test_pattern(pattern: str, path: str, excluded: bool) -> None:
    patterns, _ = read_patterns(pattern + "\n")
    assert IgnoreMatcher(patterns).matches(path) is excluded


def test_exceptions_and_last_match_wins() -> None:
    m = IgnoreMatcher(["*.log", "!keep.log", "keep.log", "docs", "!docs/README.md"])
    assert m.matches("a.log")
    assert m.matches("keep.log")  # re-excluded by the last pattern
    assert m.matches("docs/guide.md")
    assert not m.matches("docs/README.md")
    assert not m.matches("src/a.log")  # *.log is anchored at the root
    assert m.has_exclusions


def test_exception_cannot_reinclude_under_a_reexcluded_parent() -> None:
    m = IgnoreMatcher(["a", "!a/b", "a/b/c"])
    assert m.matches("a/x")
    assert not m.matches("a/b/y")
    assert m.matches("a/b/c/z")


def test_must_walk_only_where_an_exception_can_reach() -> None:
    m = IgnoreMatcher(["node_modules", "build", "!build/keep/*.txt"])
    assert m.must_walk("build") and m.must_walk("build/keep")
    assert not m.must_walk("build/other")
    assert not m.must_walk("node_modules")
    anywhere = IgnoreMatcher(["node_modules", "!**/LICENSE"])
    assert anywhere.must_walk("node_modules/x/y")  # **/LICENSE may match at any depth
    plain = IgnoreMatcher(["node_modules", "!src/keep"])
    assert not plain.must_walk("node_modules")
    assert plain.must_walk("src")
    assert not IgnoreMatcher(["x"]).must_walk("x")


def test_reader_comments_blank_lines_and_cleaning() -> None:
    text = "\ufeff# comment\n\n  *.tmp  \n!  /keep.tmp\n/abs/../path/\n #not a comment\n"
    patterns, lines = read_patterns(text)
    assert patterns == ["*.tmp", "!keep.tmp", "path", "#not a comment"]
    assert lines == [3, 4, 5, 6]


def test_bad_patterns_are_reported_with_line() -> None:
    with pytest.raises(DockerignoreError) as caught:
        patterns, lines = read_patterns("ok\nbad[\n")
        IgnoreMatcher(patterns, lines=lines)
    assert caught.value.line == 2 and "bad[" in str(caught.value)
    with pytest.raises(DockerignoreError, match='illegal exclusion pattern: "!"'):
        IgnoreMatcher(["!"])


def test_context_root_is_never_excluded() -> None:
    assert not IgnoreMatcher(["*", "**"]).matches(".")


def test_load_prefers_dockerfile_specific_ignore_file(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("general\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile.dockerignore").write_text("specific\n")
    specific = load_ignore(tmp_path, "app/Dockerfile")
    assert specific.matches("specific") and not specific.matches("general")
    general = load_ignore(tmp_path, "other.Dockerfile")
    assert general.matches("general") and not general.matches("specific")
    assert load_ignore(tmp_path, tmp_path / "app" / "Dockerfile").matches("specific")
    assert not load_ignore(tmp_path / "app").matches("general")
