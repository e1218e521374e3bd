"""README rendering: CommonMark with raw HTML disabled, so a README can never carry a script,
an event handler or a style; markdown-it's link check refuses javascript:, vbscript:, file:
and (non-image) data: URLs."""

from __future__ import annotations

from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def render_markdown(text: str) -> str:
    return _MD.render(text)
