"""Heredoc detection and bodies, cases after BuildKit's parser_heredoc_test semantics.
Dockyard stores `<<-` bodies with the tabs already stripped (BuildKit strips them later)."""

from __future__ import annotations

import pytest

from dockyard.builder.dockerfile import DockerfileError, heredoc_source, parse

# (instruction text incl. body lines, [(name, content, expand, chomp)])
CASES: list[tuple[str, list[tuple[str, str, bool, bool]]]] = [
    ("USER <<INVALID\n", []),
    ("RUN <<EMPTY\nEMPTY\n", [("EMPTY", "", True, False)]),
    ("RUN 3<<EMPTY2\nEMPTY2\n", [("EMPTY2", "", True, False)]),
    ('RUN "<<NOHEREDOC"\n', []),
    ("RUN '<<NOHEREDOC'\n", []),
    ("RUN <<INDENT\n\tfoo\n\tbar\nINDENT\n", [("INDENT", "\tfoo\n\tbar\n", True, False)]),
    ("RUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT\n", [("UNINDENT", "baz\nquux\n", True, True)]),
    ("RUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n",
     [("UNINDENT2", "baz\nquux\n", True, True)]),
    ("RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n",
     [("NOEXPAND", "don't expand $NAME\n", False, True)]),
    ("RUN <<COMMENT\n# internal comment\necho hi # trailing\nCOMMENT\n",
     [("COMMENT", "# internal comment\necho hi # trailing\n", True, False)]),
    ("RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n",
     [("MOUNT", "echo hello\n", True, False)]),
    ("COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n",
     [("FILE1", "content 1\n", True, False), ("FILE2", "content 2\n", True, False)]),
    ("COPY <<EOF /quotes\n\"foo\"\n'bar'\nEOF\n", [("EOF", "\"foo\"\n'bar'\n", True, False)]),
    ("COPY <<X <<Y /dest\nY\nX\nX\nY\n", [("X", "Y\n", True, False), ("Y", "X\n", True, False)]),
    ("RUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX\n",
     [("COMPLEX", "print('hello world')\n", True, False)]),
    ("COPY <<file.txt /dest\nhello world\nfile.txt\n",
     [("file.txt", "hello world\n", True, False)]),
    ("RUN <<eo'f'\necho foo\neof\n", [("eof", "echo foo\n", False, False)]),
    ("RUN <<eo\\'f\necho foo\neo'f\n", [("eo'f", "echo foo\n", True, False)]),
    ("RUN <<'e'o\\'f\necho foo\neo'f\n", [("eo'f", "echo foo\n", False, False)]),
    ("RUN <<'one two'\necho bar\none two\n", [("one two", "echo bar\n", False, False)]),
    ("RUN <<$EOF\n$EOF\n", [("$EOF", "", True, False)]),
    ("RUN <<  EOF\nEOF\n", [("EOF", "", True, False)]),
    ("RUN <<  EOF  > foo\nEOF\n", [("EOF", "", True, False)]),
    ('RUN ["<<EOF"]\n', []),
    ("RUN << -EOF\n-EOF\n", [("-EOF", "", True, False)]),
    ("RUN 4<<EOF\nEOF\n", [("EOF", "", True, False)]),
    ("ONBUILD RUN <<EOF\nlater\nEOF\n", [("EOF", "later\n", True, False)]),
    ("RUN <<EOF\r\nwindows\r\nEOF\r\n", [("EOF", "windows\r\n", True, False)]),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0].split("\n")[0] for c in CASES])
def test_heredocs(text: str, expected: list[tuple[str, str, bool, bool]]) -> None:
    df = parse("FROM busybox\n" + text + "LABEL after=heredoc\n")
    first, after = df.stages[0].instructions
    got = [(h.name, h.content, h.expand, h.chomp) for h in first.heredocs]
    assert got == expected
    assert after.line == 2 + text.count("\n")


@pytest.mark.parametrize("word", ["<<EOF", "<<'EOF'", '<<"EOF"', "<<-EOF", "<<-'EOF'",
                                  '<<-"EOF"', '<<EO"F"', "<< EOF", "<<- EOF"])
def test_heredoc_words(word: str) -> None:
    heredoc = heredoc_source(word)
    assert heredoc is not None and heredoc.name == "EOF"


@pytest.mark.parametrize("word", ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"])
def test_not_heredoc_words(word: str) -> None:
    assert heredoc_source(word) is None


def test_chomp_marker_with_space_is_not_a_heredoc_in_a_line() -> None:
    # the lexer keeps blanks only right after "<<": "<<- EOF" lexes as "<<-" and "EOF"
    with pytest.raises(DockerfileError, match="unknown instruction: EOF"):
        parse("FROM busybox\nRUN <<- EOF\nEOF\n")


def test_heredoc_body_lines_count_into_end_line() -> None:
    df = parse("FROM busybox\nRUN <<A cat - <<B\n1\nA\n2\nB\nRUN true\n")
    run, second = df.stages[0].instructions
    assert (run.line, run.end_line, second.line) == (2, 6, 7)


def test_unterminated_heredoc_names_the_opening_line() -> None:
    with pytest.raises(DockerfileError) as caught:
        parse("FROM busybox\nRUN true\nCOPY <<EOF /x\nbody\n")
    assert caught.value.line == 3 and "unterminated heredoc" in str(caught.value)
