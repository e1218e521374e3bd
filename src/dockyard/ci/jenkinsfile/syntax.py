"""Recursive-descent parser from tokens to a generic statement tree (Groovy's command/closure
syntax), before any declarative meaning: `name args { block }` and `NAME = value`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.ci.errors import MAX_NESTING, JenkinsfileError, Pos, check_size
from dockyard.ci.groovy import ast as A
from dockyard.ci.groovy.parser import parse_block, parse_expression_at
from dockyard.ci.jenkinsfile.lexer import LazyTokens, Lexer, Token
from dockyard.ci.model import Call, GString, Interp


@dataclass
class Node:
    """One statement. `assign` holds the value of `NAME = value`; `block` the `{ ... }` body."""

    name: str
    pos: Pos
    args: list[Any]
    kwargs: dict[str, Any]
    block: list[Node] | None = None
    assign: Any = None
    is_assign: bool = False
    parens: bool = False
    groovy: Any = None  # script { } / expression { }: the Groovy block; NAME = expr: the expression


@dataclass(frozen=True)
class Ref:
    """A bare name used as a value (`any`, `HOURS`, `env.X`)."""

    name: str
    pos: Pos


_VALUE_START = {"string", "number", "ident"}


class SyntaxParser:
    def __init__(self, source: str, filename: str = "Jenkinsfile") -> None:
        check_size(source, filename)
        self.toks = LazyTokens(Lexer(source, filename))
        self.k = 0
        self.depth = 0

    def _enter(self, pos: Pos) -> None:
        """One more level of blocks, lists or call arguments; deeper than MAX_NESTING is an error
        (the parser is recursive: a file of 100000 `{` must not exhaust the stack)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise JenkinsfileError(f"nesting deeper than {MAX_NESTING} levels of blocks or lists", pos)

    # -- token helpers ----------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.k]

    def _next(self) -> Token:
        t = self.toks[self.k]
        self.k += 1
        return t

    def _is_op(self, ch: str, tok: Token | None = None) -> bool:
        t = tok or self.tok
        return t.kind == "op" and t.value == ch

    def _expect_op(self, ch: str, context: str) -> Token:
        if not self._is_op(ch):
            raise JenkinsfileError(f"expected '{ch}' {context}, found {_describe(self.tok)}", self.tok.pos)
        return self._next()

    # -- statements -------------------------------------------------------------
    def parse_file(self) -> list[Node]:
        nodes = self._statements(top=True)
        if self.tok.kind != "eof":
            raise JenkinsfileError(f"unexpected {_describe(self.tok)}", self.tok.pos)
        return nodes

    def _statements(self, top: bool = False) -> list[Node]:
        nodes: list[Node] = []
        while True:
            while self._is_op(";"):
                self._next()
            if self.tok.kind == "eof" or self._is_op("}"):
                return nodes
            prev = self.toks[self.k - 1]
            if (
                nodes
                and not self.tok.newline_before
                and not (self._is_op(";", prev) or self._is_op("}", prev))
            ):
                raise JenkinsfileError(
                    f"unexpected {_describe(self.tok)}: put each statement on its own line", self.tok.pos
                )
            nodes.append(self._statement())

    def _statement(self) -> Node:
        t = self.tok
        if t.kind != "ident":
            raise JenkinsfileError(f"expected a name, found {_describe(t)}", t.pos)
        self._next()
        name = str(t.value)
        if name in ("def", "node", "import", "library"):
            raise JenkinsfileError(
                f"'{name}' is scripted-pipeline Groovy; Dockyard runs declarative pipelines only", t.pos
            )
        node = Node(name, t.pos, [], {})
        if name in ("script", "expression") and self._is_op("{"):
            node.groovy = self._groovy_block()
            return node
        if self._is_op("=") and not self.tok.newline_before:
            self._next()
            node.is_assign = True
            node.groovy = self._groovy_expression()
            node.assign = _plain_value(node.groovy)
            return node
        if self._is_op("("):
            self._next()
            node.parens = True
            self._arglist(node, closing=")")
            self._expect_op(")", f"to close the arguments of {name}")
        elif not self.tok.newline_before and (self.tok.kind in _VALUE_START or self._is_op("[")):
            self._arglist(node, closing=None)
        if self._is_op("{"):
            self._enter(self._next().pos)
            node.block = self._statements()
            self._expect_op("}", f"to close the block of {name} opened at {t.pos.line}:{t.pos.col}")
            self.depth -= 1
        return node

    def _groovy_block(self) -> A.Block:
        """The `{ ... }` at the current token, read by the Groovy parser."""
        open_tok = self.tok
        if self.toks.buffered() != self.k + 1:
            raise JenkinsfileError("unexpected '{'", open_tok.pos)
        lexer = self.toks.lexer
        block, resume = parse_block(lexer.src, lexer.filename, lexer.i, lexer.line, lexer.col, open_tok.pos)
        self.toks.resume_at(self.k, resume)
        return block

    def _groovy_expression(self) -> A.Node:
        """The value after `NAME =`, read by the Groovy parser up to the end of its line."""
        if self.toks.buffered() != self.k:
            raise JenkinsfileError("unexpected '='", self.toks[self.k - 1].pos)
        lexer = self.toks.lexer
        expr, resume = parse_expression_at(lexer.src, lexer.filename, lexer.i, lexer.line, lexer.col)
        self.toks.resume_at(self.k, resume)
        return expr

    def _arglist(self, node: Node, closing: str | None) -> None:
        if closing and self._is_op(closing):
            return
        while True:
            key = self._named_key()
            if key is not None:
                if key in node.kwargs:
                    raise JenkinsfileError(f"argument '{key}' given twice", self.toks[self.k - 2].pos)
                node.kwargs[key] = self._value()
            else:
                node.args.append(self._value())
            if self._is_op(","):
                self._next()
                continue
            return

    def _named_key(self) -> str | None:
        t = self.tok
        if (
            t.kind in ("ident", "string")
            and isinstance(t.value, str)
            and self._is_op(":", self.toks[self.k + 1])
        ):
            self.k += 2
            return t.value
        return None

    # -- values -----------------------------------------------------------------
    def _value(self) -> Any:
        t = self.tok
        if t.kind in ("string", "number"):
            self._next()
            return t.value
        if self._is_op("["):
            return self._list_or_map()
        if t.kind == "ident":
            self._next()
            if t.value == "true":
                return True
            if t.value == "false":
                return False
            if t.value == "null":
                return None
            if self._is_op("("):
                self._enter(self._next().pos)
                holder = Node(str(t.value), t.pos, [], {})
                self._arglist(holder, closing=")")
                self._expect_op(")", f"to close the arguments of {t.value}")
                self.depth -= 1
                if self._is_op("{"):
                    raise JenkinsfileError(
                        f"a closure is not allowed as a value here ({t.value})", self.tok.pos
                    )
                return Call(holder.name, tuple(holder.args), holder.kwargs, t.pos)
            name = str(t.value)
            while self._is_op(".") and self.toks[self.k + 1].kind == "ident":
                self._next()
                name += "." + str(self._next().value)
            return Ref(name, t.pos)
        raise JenkinsfileError(f"expected a value, found {_describe(t)}", t.pos)

    def _list_or_map(self) -> Any:
        self._enter(self.tok.pos)
        try:
            return self._list_or_map_items()
        finally:
            self.depth -= 1

    def _list_or_map_items(self) -> Any:
        open_tok = self._expect_op("[", "")
        if self._is_op(":") and self._is_op("]", self.toks[self.k + 1]):
            self.k += 2
            return {}
        items: list[Any] = []
        mapping: dict[str, Any] = {}
        while not self._is_op("]"):
            key = self._named_key()
            if key is not None:
                if items:
                    raise JenkinsfileError("mixing list items and map entries", self.tok.pos)
                mapping[key] = self._value()
            else:
                if mapping:
                    raise JenkinsfileError("mixing list items and map entries", self.tok.pos)
                items.append(self._value())
            if self._is_op(","):
                self._next()
            elif not self._is_op("]"):
                raise JenkinsfileError(
                    f"expected ',' or ']' in the list opened at {open_tok.pos.line}:{open_tok.pos.col},"
                    f" found {_describe(self.tok)}",
                    self.tok.pos,
                )
        self._next()
        return mapping if mapping else items


def _describe(t: Token) -> str:
    if t.kind == "eof":
        return "end of file"
    if t.kind == "string":
        return "a string"
    return f"'{t.text or t.value}'"


def parse_statements(source: str, filename: str = "Jenkinsfile") -> list[Node]:
    return SyntaxParser(source, filename).parse_file()


def _plain_value(expr: A.Node) -> Any:
    """An environment value the declarative model takes as it is: a literal, a string with
    `${...}`, or `credentials('id')`; anything else stays a Groovy expression (None here)."""
    if isinstance(expr, A.Lit):
        return expr.value
    if isinstance(expr, A.GStr):
        parts = tuple(
            p if isinstance(p, str) else Interp(_text(p), p.pos, p) for p in expr.parts
        )
        return GString(parts)
    if (
        isinstance(expr, A.FuncCall)
        and expr.name == "credentials"
        and len(expr.args.positional) == 1
        and isinstance(expr.args.positional[0], A.Lit)
        and isinstance(expr.args.positional[0].value, str)
        and not expr.args.named
    ):
        return Call("credentials", (expr.args.positional[0].value,), {}, expr.pos)
    return None


def _text(node: A.Node) -> str:
    """A short text for an interpolated expression (its dotted name when it is one)."""
    if isinstance(node, A.Name):
        return node.name
    if isinstance(node, A.Prop):
        return f"{_text(node.obj)}.{node.name}"
    return "..."
