"""Hypothesis strategies shared by the parser fuzz tests (Dockerfile, Jenkinsfile, YAML)."""

from __future__ import annotations

from hypothesis import strategies as st


def mutations(seed: str, pieces: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """The seed with a few random edits: deletions, duplications, insertions of `pieces`."""
    edit = st.tuples(
        st.sampled_from(["delete", "duplicate", "insert"]),
        st.integers(0, len(seed)),
        st.integers(1, 40),
        pieces,
    )

    def apply(edits: list[tuple[str, int, int, str]]) -> str:
        text = seed
        for kind, at, length, piece in edits:
            at = min(at, len(text))
            if kind == "delete":
                text = text[:at] + text[at + length :]
            elif kind == "duplicate":
                text = text[:at] + text[at : at + length] + text[at:]
            else:
                text = text[:at] + piece + text[at:]
        return text

    return st.lists(edit, min_size=1, max_size=6).map(apply)
