"""Minimal edits to a YAML text: change a scalar, add or drop a `key: value` line, nothing else.

ruamel.yaml's round trip keeps comments but re-indents sequences and may re-wrap long lines.
So the manifest is parsed with ruamel only to find *where* a value is (line and column), and the
edit is made on the original text; everything else in the file stays byte for byte. The result
is parsed again and compared with the intended data; if a textual edit cannot be made safely
(a flow-style mapping, a multi-line scalar) the caller falls back to a ruamel round-trip dump.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

_SAFE_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./:@+-]*$")


class EditNotPossible(Exception):
    """The text cannot be edited in place; use `dump_documents` instead."""


@dataclass(frozen=True)
class _Splice:
    start: int
    end: int
    text: str


def new_yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def load_documents(text: str) -> list[Any]:
    return list(new_yaml().load_all(text))


def dump_documents(docs: list[Any], original: str) -> str:
    """Round-trip dump (fallback), with the sequence indentation the original text uses."""
    yaml = new_yaml()
    indented = re.search(r"^\s+- ", original, re.M) and not re.search(r"^\w+:\n- ", original, re.M)
    offset = 2 if indented else 0
    yaml.indent(mapping=2, sequence=2 + offset, offset=offset)
    if original.lstrip().startswith("---"):
        yaml.explicit_start = True
    out = io.StringIO()
    yaml.dump_all(docs, out)
    return out.getvalue()


def plain(value: Any) -> Any:
    """ruamel nodes as plain Python values, for comparing two parses."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


class TextEditor:
    """Collects edits against `text` (positions from ruamel's `.lc`), then applies them at once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_starts = [0]
        for match in re.finditer("\n", text):
            self._line_starts.append(match.end())
        self._splices: list[_Splice] = []
        self.impossible = False  # set when some edit could not be made in place

    def _offset(self, line: int, col: int) -> int:
        return self._line_starts[line] + col

    def _line(self, line: int) -> str:
        start = self._line_starts[line]
        end = self._line_starts[line + 1] if line + 1 < len(self._line_starts) else len(self.text)
        return self.text[start:end]

    def set_scalar(self, mapping: CommentedMap, key: str, value: str) -> None:
        """Replace the scalar token of `mapping[key]`, keeping its quoting style and any comment."""
        line, col = mapping.lc.value(key)
        text_line = self._line(line)
        token_end = _scalar_end(text_line, col, flow=_is_flow(mapping))
        token = text_line[col:token_end]
        self._splices.append(
            _Splice(self._offset(line, col), self._offset(line, token_end), _quote_like(token, value))
        )

    def add_keys_after(self, mapping: CommentedMap, after_key: str, pairs: list[tuple[str, str]]) -> None:
        """Insert `key: value` lines right after the line of `after_key` (block style only)."""
        if _is_flow(mapping):
            raise EditNotPossible("flow-style mapping")
        key_line, key_col = mapping.lc.key(after_key)
        value_line, _ = mapping.lc.value(after_key)
        if value_line != key_line:
            raise EditNotPossible("value on its own line")
        end = self._line_starts[key_line + 1] if key_line + 1 < len(self._line_starts) else None
        if end is None:
            raise EditNotPossible("no newline at the end of the file")
        newline = "\r\n" if self._line(key_line).endswith("\r\n") else "\n"
        lines = "".join(f"{' ' * key_col}{key}: {_quote_like('', value)}{newline}" for key, value in pairs)
        self._splices.append(_Splice(end, end, lines))

    def drop_key(self, mapping: CommentedMap, key: str) -> None:
        """Delete the line `key: value` when it holds nothing else."""
        if _is_flow(mapping):
            raise EditNotPossible("flow-style mapping")
        key_line, key_col = mapping.lc.key(key)
        value_line, value_col = mapping.lc.value(key)
        text_line = self._line(key_line)
        if value_line != key_line or text_line[:key_col].strip() != "":
            raise EditNotPossible("key shares its line")
        rest = text_line[_scalar_end(text_line, value_col, flow=False) :].strip()
        if rest and not rest.startswith("#"):
            raise EditNotPossible("line holds more than the key")
        start = self._line_starts[key_line]
        self._splices.append(_Splice(start, start + len(text_line), ""))

    def result(self) -> str:
        if self.impossible:
            raise EditNotPossible("an edit could not be made in place")
        out = self.text
        last_start = len(out) + 1
        for splice in sorted(self._splices, key=lambda s: (s.start, s.end), reverse=True):
            if splice.end > last_start:
                raise EditNotPossible("overlapping edits")
            out = out[: splice.start] + splice.text + out[splice.end :]
            last_start = splice.start
        return out


def _is_flow(node: CommentedMap | CommentedSeq) -> bool:
    return bool(node.fa.flow_style())


def _scalar_end(line: str, col: int, *, flow: bool) -> int:
    """Index just past the scalar token starting at `col` (quoted, or plain up to a comment)."""
    if col >= len(line):
        raise EditNotPossible("value not on the key's line")
    quote = line[col]
    if quote == "'":
        i = col + 1
        while i < len(line):
            if line[i] == "'":
                if i + 1 < len(line) and line[i + 1] == "'":
                    i += 2
                    continue
                return i + 1
            i += 1
        raise EditNotPossible("multi-line quoted scalar")
    if quote == '"':
        i = col + 1
        while i < len(line):
            if line[i] == "\\":
                i += 2
                continue
            if line[i] == '"':
                return i + 1
            i += 1
        raise EditNotPossible("multi-line quoted scalar")
    if quote in "|>&*!{[":
        raise EditNotPossible("block scalar, anchor, alias or tag")
    end = len(line.rstrip("\r\n"))
    comment = re.search(r"\s#", line[col:])
    if comment:
        end = min(end, col + comment.start())
    if flow:
        stop = re.search(r"[,}\]]", line[col:end])
        if stop:
            end = col + stop.start()
    return len(line[:end].rstrip())


def _quote_like(token: str, value: str) -> str:
    if token.startswith("'"):
        return "'" + value.replace("'", "''") + "'"
    if token.startswith('"'):
        return json.dumps(value)
    return value if _plain_is_string(value) else json.dumps(value)


def _plain_is_string(value: str) -> bool:
    """True when `value` written unquoted reads back as the same string (not 1.37, not `on`)."""
    if not _SAFE_PLAIN.match(value):
        return False
    try:
        loaded = YAML(typ="safe", pure=True).load(f"k: {value}\n")
    except Exception:  # noqa: BLE001 - anything unparseable gets quoted
        return False
    return isinstance(loaded, dict) and loaded.get("k") == value and isinstance(loaded.get("k"), str)


def same_data(a: Iterable[Any], b: Iterable[Any]) -> bool:
    return [plain(d) for d in a] == [plain(d) for d in b]
