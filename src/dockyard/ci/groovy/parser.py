"""Recursive-descent parser of the Groovy subset. What it accepts is exactly what the interpreter
runs; everything else (classes, `new`, imports, annotations, metaprogramming, methods outside the
whitelist, Java classes such as System or Runtime) is a PipelineError at file:line:column, so a
pipeline is refused before it starts rather than half-way through."""

from __future__ import annotations

import re

from dockyard.ci.errors import MAX_NESTING, PipelineError, Pos
from dockyard.ci.groovy import ast as A
from dockyard.ci.groovy.builtins import FUNCTIONS, METHODS
from dockyard.ci.groovy.lexer import Lexer, Tok
from dockyard.ci.groovy.specs import STEPS

TYPES = frozenset(
    {"def", "var", "String", "GString", "int", "Integer", "long", "Long", "boolean", "Boolean",
     "double", "Double", "float", "Float", "List", "Map", "Object", "Number", "BigDecimal",
     "ArrayList", "LinkedHashMap", "HashMap", "Collection", "Iterable", "CharSequence"}
)  # fmt: skip
# constructs that would reach outside the interpreter, with the message that names them
REFUSED = {
    "new": "'new' (creating Java/Groovy objects) is not in Dockyard's Groovy subset: use lists [..],"
    " maps [k: v] and steps such as readFile/writeFile",
    "class": "class definitions are not in Dockyard's Groovy subset",
    "interface": "interface definitions are not in Dockyard's Groovy subset",
    "enum": "enum definitions are not in Dockyard's Groovy subset",
    "trait": "trait definitions are not in Dockyard's Groovy subset",
    "import": "'import' is not in Dockyard's Groovy subset (no Java or Groovy classes are available)",
    "package": "'package' is not in Dockyard's Groovy subset",
    "this": "'this' is not in Dockyard's Groovy subset (the script object is not reachable)",
    "super": "'super' is not in Dockyard's Groovy subset",
    "evaluate": "evaluate() (running Groovy from a string) is not in Dockyard's Groovy subset",
    "load": "load() (running another Groovy file) is not in Dockyard's Groovy subset",
    "node": "'node' is scripted-pipeline Groovy; Dockyard runs declarative pipelines only",
    "stage": "stage() inside script { } is scripted-pipeline Groovy: declare stages in stages { }",
    "library": "shared libraries are not supported",
    "switch": "'switch' is not in Dockyard's Groovy subset: use if / else if",
    "do": "'do ... while' is not in Dockyard's Groovy subset: use while",
    "assert": "'assert' is not in Dockyard's Groovy subset: use if (...) { error('...') }",
    "synchronized": "'synchronized' is not in Dockyard's Groovy subset",
    "static": "'static' is not in Dockyard's Groovy subset",
    "instanceof": "'instanceof' is not in Dockyard's Groovy subset",
    "as": "'as' (type coercion) is not in Dockyard's Groovy subset: use toInteger(), toString()...",
    "binding": "the script binding is not reachable in Dockyard's Groovy subset",
    "getBinding": "the script binding is not reachable in Dockyard's Groovy subset",
    "metaClass": "metaprogramming (metaClass) is not in Dockyard's Groovy subset",
    "getMetaClass": "metaprogramming (metaClass) is not in Dockyard's Groovy subset",
    "setMetaClass": "metaprogramming (metaClass) is not in Dockyard's Groovy subset",
    "getClass": "getClass() (reflection) is not in Dockyard's Groovy subset",
    "invokeMethod": "invokeMethod (metaprogramming) is not in Dockyard's Groovy subset",
    "getProperty": "getProperty (metaprogramming) is not in Dockyard's Groovy subset: use map[key]",
    "setProperty": "setProperty (metaprogramming) is not in Dockyard's Groovy subset",
    "execute": "execute() (running a host command) is not in Dockyard's Groovy subset: use the sh step",
}
_FORBIDDEN_PROPS = {"class", "metaClass", "delegate", "owner", "thisObject", "declaringClass",
                    "classLoader", "binding", "properties", "methods"}  # fmt: skip
# what the interpreter answers for currentBuild.X (anything else would fail half-way through a build)
_BUILD_PROPS = frozenset(
    {"number", "id", "result", "currentResult", "displayName", "description", "projectName",
     "fullProjectName", "fullDisplayName", "absoluteUrl", "duration", "durationString",
     "startTimeInMillis", "timeInMillis"}
)  # fmt: skip
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_ASSIGN_OPS = {"=", "+=", "-=", "*=", "/=", "%="}
_CMD_ARG_START = {"str", "gstr", "num", "ident"}
_BINARY = [
    ("||",),
    ("&&",),
    ("==", "!=", "<=>"),
    ("<", "<=", ">", ">=", "in"),
    ("<<",),
    ("+", "-"),
    ("*", "/", "%"),
]
_CONTINUES_LINE = {".", "?."}  # may start a continuation line (`list\n  .findAll {...}`)


class Parser:
    """Parses a token list (ending with `eof`, or with the `}` that closes the block)."""

    def __init__(self, toks: list[Tok], steps_allowed: bool = True, depth: int = 0) -> None:
        self.toks, self.k = toks, 0
        self.steps_allowed = steps_allowed
        self.depth = depth
        self.declared: set[str] = set()
        self.calls: list[A.FuncCall] = []

    # -- tokens -------------------------------------------------------------------------------
    @property
    def tok(self) -> Tok:
        return self.toks[min(self.k, len(self.toks) - 1)]

    def peek(self, n: int = 1) -> Tok:
        return self.toks[min(self.k + n, len(self.toks) - 1)]

    def advance(self) -> Tok:
        t = self.tok
        self.k += 1
        return t

    def is_op(self, *ops: str, tok: Tok | None = None) -> bool:
        t = tok or self.tok
        return t.kind == "op" and t.value in ops

    def is_end(self) -> bool:
        return self.tok.kind == "eof" or (self.is_op("}") and self.k == len(self.toks) - 1)

    def expect(self, op: str, context: str) -> Tok:
        if not self.is_op(op):
            raise PipelineError(f"expected '{op}' {context}, found {describe(self.tok)}", self.tok.pos)
        return self.advance()

    def ident(self, context: str) -> str:
        t = self.tok
        if t.kind != "ident":
            raise PipelineError(f"expected a name {context}, found {describe(t)}", t.pos)
        self.advance()
        return str(t.value)

    def enter(self, pos: Pos) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise PipelineError(f"nesting deeper than {MAX_NESTING} levels of blocks or expressions", pos)

    # -- statements ---------------------------------------------------------------------------
    def script(self) -> A.Block:
        pos = self.tok.pos
        body = self.statements()
        if not self.is_end():
            raise PipelineError(f"unexpected {describe(self.tok)}", self.tok.pos)
        self.check_calls()
        return A.Block(pos, tuple(body))

    def statements(self) -> list[A.Node]:
        out: list[A.Node] = []
        while True:
            while self.is_op(";"):
                self.advance()
            if self.is_end() or self.is_op("}"):
                return out
            if (
                out
                and not self.tok.nl
                and not self.is_op(";", tok=self.toks[self.k - 1])
                and not (self.is_op("}", tok=self.toks[self.k - 1]))
            ):
                raise PipelineError(
                    f"unexpected {describe(self.tok)}: put each statement on its own line or end it with ;",
                    self.tok.pos,
                )
            out.append(self.statement())

    def block(self, context: str) -> A.Block:
        open_tok = self.expect("{", context)
        self.enter(open_tok.pos)
        body = self.statements()
        self.expect("}", f"to close the block opened at {open_tok.pos.line}:{open_tok.pos.col}")
        self.depth -= 1
        return A.Block(open_tok.pos, tuple(body))

    def body(self, context: str) -> A.Node:
        """A `{ block }` or a single statement (after if/else/for/while)."""
        if self.is_op("{"):
            return self.block(context)
        return self.statement()

    def statement(self) -> A.Node:
        t = self.tok
        if t.kind == "op" and t.value == "@":
            raise PipelineError(
                "annotations such as @Library or @Grab are not supported (no shared libraries"
                " or downloaded code)",
                t.pos,
            )
        if t.kind == "op" and t.value == "{":
            raise PipelineError("a bare { block } is not in Dockyard's Groovy subset", t.pos)
        if t.kind == "ident":
            word = str(t.value)
            handler = getattr(self, f"_stmt_{word}", None)
            if handler is not None and word in _STATEMENT_WORDS:
                return handler()
            if word == "final" or self._is_declaration():
                return self._declaration()
        expr = self.expression()
        if isinstance(expr, A.Closure):
            raise PipelineError("a closure on its own does nothing: call it or assign it", expr.pos)
        self._end_of_statement()
        return A.ExprStmt(t.pos, expr)

    def _end_of_statement(self) -> None:
        if not (self.is_end() or self.is_op(";", "}") or self.tok.nl):
            raise PipelineError(
                f"unexpected {describe(self.tok)}: put each statement on its own line or end it with ;",
                self.tok.pos,
            )

    def _is_declaration(self) -> bool:
        t = self.tok
        if t.value not in TYPES:
            return False
        nxt = self.peek()
        if self.is_op("<", tok=nxt):
            return True
        return nxt.kind == "ident" and not nxt.nl or (t.value == "def" and self.is_op("(", tok=nxt))

    def _declaration(self) -> A.Node:
        pos = self.tok.pos
        if self.tok.value == "final":
            self.advance()
        if self.tok.value in TYPES:
            self.advance()
            self._skip_generics()
        if self.is_op("("):
            raise PipelineError(
                "multiple assignment def (a, b) = ... is not in Dockyard's Groovy subset", pos
            )
        name_tok = self.tok
        name = self.ident("after def")
        self._check_variable_name(name, name_tok.pos)
        if self.is_op("("):
            raise PipelineError(
                f"method definitions (def {name}(...)) are not in Dockyard's Groovy subset:"
                f" use a closure, def {name} = {{ x -> ... }}",
                name_tok.pos,
            )
        self.declared.add(name)
        value = None
        if self.is_op("="):
            self.advance()
            value = self.expression()
        self._end_of_statement()
        return A.VarDecl(pos, name, value)

    def _skip_generics(self) -> None:
        if not self.is_op("<"):
            return
        depth = 0
        while True:
            t = self.advance()
            if t.kind == "eof":
                raise PipelineError("unterminated <...> type arguments", t.pos)
            if self.is_op("<", tok=t):
                depth += 1
            elif self.is_op(">", tok=t):
                depth -= 1
                if depth == 0:
                    return
            elif self.is_op(">>", tok=t):
                depth -= 2
                if depth <= 0:
                    return

    def _check_variable_name(self, name: str, pos: Pos) -> None:
        if name in REFUSED or name in ("env", "params", "currentBuild", "scm"):
            raise PipelineError(f"'{name}' cannot be used as a variable name", pos)

    def _stmt_if(self) -> A.Node:
        pos = self.advance().pos
        self.expect("(", "after if")
        cond = self.expression()
        self.expect(")", "to close the if condition")
        then = self.body("after if (...)")
        other = None
        k = self.k
        while self.is_op(";"):
            self.advance()
        if self.tok.kind == "ident" and self.tok.value == "else":
            self.advance()
            other = self.body("after else")
        else:
            self.k = k
        return A.If(pos, cond, then, other)

    def _stmt_for(self) -> A.Node:
        pos = self.advance().pos
        self.expect("(", "after for")
        # for (x in list), for (def x in list), for (String x : list)
        k = self.k
        if self.tok.kind == "ident" and self.tok.value in TYPES and self.peek().kind == "ident":
            self.advance()
        if self.tok.kind == "ident" and (
            (self.peek().kind == "ident" and self.peek().value == "in") or self.is_op(":", tok=self.peek())
        ):
            var = self.ident("in for")
            self._check_variable_name(var, pos)
            self.advance()
            iterable = self.expression()
            self.expect(")", "to close the for (... in ...)")
            return A.ForIn(pos, var, iterable, self.body("after for (...)"))
        self.k = k
        init: A.Node | None = None
        if not self.is_op(";"):
            init = self._declaration() if self._is_declaration() else A.ExprStmt(pos, self.expression())
        self.expect(";", "in for (init; condition; update)")
        cond = None if self.is_op(";") else self.expression()
        self.expect(";", "in for (init; condition; update)")
        update = None if self.is_op(")") else self.expression()
        self.expect(")", "to close for (init; condition; update)")
        return A.ForC(pos, init, cond, update, self.body("after for (...)"))

    def _stmt_while(self) -> A.Node:
        pos = self.advance().pos
        self.expect("(", "after while")
        cond = self.expression()
        self.expect(")", "to close the while condition")
        return A.While(pos, cond, self.body("after while (...)"))

    def _stmt_try(self) -> A.Node:
        pos = self.advance().pos
        body = self.block("after try")
        catches: list[A.Catch] = []
        final = None
        while self.tok.kind == "ident" and self.tok.value == "catch":
            self.advance()
            self.expect("(", "after catch")
            names: list[str] = []
            while not self.is_op(")"):
                t = self.advance()
                if t.kind == "eof":
                    raise PipelineError("unterminated catch (...)", t.pos)
                if t.kind == "ident":
                    names.append(str(t.value))
                elif not self.is_op("|", ".", tok=t):
                    raise PipelineError(f"unexpected {describe(t)} in catch (...)", t.pos)
            self.advance()
            if not names:
                raise PipelineError("catch needs a variable: catch (e) { ... }", pos)
            self._check_variable_name(names[-1], pos)
            catches.append(A.Catch(names[-1], self.block("after catch (...)")))
        if self.tok.kind == "ident" and self.tok.value == "finally":
            self.advance()
            final = self.block("after finally")
        if not catches and final is None:
            raise PipelineError("try needs a catch or a finally block", pos)
        return A.Try(pos, body, tuple(catches), final)

    def _stmt_return(self) -> A.Node:
        t = self.advance()
        value = None
        if not (self.is_end() or self.is_op(";", "}") or self.tok.nl):
            value = self.expression()
        self._end_of_statement()
        return A.Return(t.pos, value)

    def _stmt_break(self) -> A.Node:
        t = self.advance()
        self._end_of_statement()
        return A.Break(t.pos)

    def _stmt_continue(self) -> A.Node:
        t = self.advance()
        self._end_of_statement()
        return A.Continue(t.pos)

    def _stmt_throw(self) -> A.Node:
        t = self.advance()
        if self.tok.kind == "ident" and self.tok.value == "new":
            raise PipelineError(
                "throw new ...(...) is not in Dockyard's Groovy subset: use error('message'),"
                " or rethrow a caught exception with throw e",
                self.tok.pos,
            )
        value = self.expression()
        self._end_of_statement()
        return A.Throw(t.pos, value)

    # -- expressions --------------------------------------------------------------------------
    def expression(self) -> A.Node:
        self.enter(self.tok.pos)
        try:
            return self._assignment()
        finally:
            self.depth -= 1

    def _assignment(self) -> A.Node:
        left = self._ternary()
        if self.tok.kind == "op" and self.tok.value in _ASSIGN_OPS:
            op_tok = self.advance()
            if not isinstance(left, A.Name | A.Prop | A.Index):
                raise PipelineError("the left side of an assignment must be a name, a.b or a[b]", op_tok.pos)
            if isinstance(left, A.Name):
                self._check_variable_name(left.name, left.pos)
            if isinstance(left, A.Prop) and left.safe:
                raise PipelineError("cannot assign through ?.", op_tok.pos)
            value = self._assignment()
            return A.Assign(op_tok.pos, left, str(op_tok.value), value)
        return left

    def _ternary(self) -> A.Node:
        cond = self._binary(0)
        if self.is_op("?:"):
            pos = self.advance().pos
            return A.Elvis(pos, cond, self._ternary())
        if self.is_op("?"):
            pos = self.advance().pos
            then = self._ternary()
            self.expect(":", "in a ? b : c")
            return A.Ternary(pos, cond, then, self._ternary())
        return cond

    def _binary(self, level: int) -> A.Node:
        if level == len(_BINARY):
            return self._range()
        left = self._binary(level + 1)
        ops = _BINARY[level]
        depth = self.depth
        while self._binary_op_here(ops):
            t = self.advance()
            self.enter(t.pos)  # a chain a + b + c is a tree as deep as it is long
            right = self._binary(level + 1)
            left = A.Binary(t.pos, str(t.value), left, right)
        self.depth = depth
        if self.is_op("=~", "==~"):
            raise PipelineError(
                "regex operators =~ and ==~ are not in Dockyard's Groovy subset: use .matches('...'),"
                " contains, startsWith or endsWith",
                self.tok.pos,
            )
        if self.is_op("&", "|", "^", ">>", "**", "*.", "::"):
            raise PipelineError(
                f"operator '{self.tok.value}' is not in Dockyard's Groovy subset", self.tok.pos
            )
        return left

    def _binary_op_here(self, ops: tuple[str, ...]) -> bool:
        t = self.tok
        if t.nl:
            return False
        if t.kind == "op" and t.value in ops:
            return True
        return t.kind == "ident" and t.value in ops

    def _range(self) -> A.Node:
        low = self._unary()
        if self.is_op("..", "..<") and not self.tok.nl:
            t = self.advance()
            return A.Range(t.pos, low, self._unary(), t.value == "..<")
        return low

    def _unary(self) -> A.Node:
        t = self.tok
        if self.is_op("!", "-", "+"):
            self.advance()
            self.enter(t.pos)
            try:
                return A.Unary(t.pos, str(t.value), self._unary())
            finally:
                self.depth -= 1
        if self.is_op("++", "--"):
            self.advance()
            target = self._postfix()
            self._check_target(target, t.pos)
            return A.IncDec(t.pos, target, 1 if t.value == "++" else -1, True)
        if self.is_op("~"):
            raise PipelineError("operator '~' is not in Dockyard's Groovy subset", t.pos)
        return self._postfix()

    def _check_target(self, target: A.Node, pos: Pos) -> None:
        if not isinstance(target, A.Name | A.Prop | A.Index):
            raise PipelineError("++ and -- need a variable", pos)

    def _postfix(self) -> A.Node:
        depth = self.depth
        try:
            return self._postfix_chain(self._primary())
        finally:
            self.depth = depth

    def _postfix_chain(self, expr: A.Node) -> A.Node:
        while True:
            t = self.tok
            if self.is_op(".", "?.", "[", "++", "--"):
                self.enter(t.pos)  # a.b.c[d] is a tree as deep as the chain is long
            if self.is_op(".", "?."):
                self.advance()
                name_tok = self.tok
                if name_tok.kind in ("str",):
                    name = str(name_tok.value)
                    self.advance()
                else:
                    name = self.ident(f"after '{t.value}'")
                expr = self._member(expr, name, name_tok.pos, t.value == "?.")
            elif self.is_op("[") and not t.nl:
                self.advance()
                index = self.expression()
                self.expect("]", "to close [index]")
                expr = A.Index(t.pos, expr, index)
            elif self.is_op("(") and not t.nl and isinstance(expr, A.Closure | A.Index | A.Prop):
                raise PipelineError("calling a value with (...) is only supported for named closures", t.pos)
            elif self.is_op("++", "--") and not t.nl:
                self.advance()
                self._check_target(expr, t.pos)
                expr = A.IncDec(t.pos, expr, 1 if t.value == "++" else -1, False)
            elif self.is_op("*.", "::"):
                raise PipelineError(f"operator '{t.value}' is not in Dockyard's Groovy subset", t.pos)
            else:
                return expr

    def _member(self, obj: A.Node, name: str, pos: Pos, safe: bool) -> A.Node:
        if self.is_op("(") and not self.tok.nl or (self.is_op("{") and not self.tok.nl):
            if name in REFUSED:
                raise PipelineError(REFUSED[name], pos)
            if name not in METHODS:
                raise PipelineError(
                    f"method .{name}() is not in Dockyard's Groovy subset (available:"
                    " String, List and Map methods such as trim, split, collect, findAll, join;"
                    " see the documentation)",
                    pos,
                )
            return A.MethodCall(pos, obj, name, self._call_args(name), safe)
        if name in _FORBIDDEN_PROPS or name in REFUSED:
            raise PipelineError(
                REFUSED.get(name, f"property .{name} is not in Dockyard's Groovy subset"), pos
            )
        if isinstance(obj, A.Name) and obj.name == "currentBuild" and name not in _BUILD_PROPS:
            raise PipelineError(
                f"currentBuild.{name} is not available in Dockyard (available:"
                f" {', '.join(sorted(_BUILD_PROPS))})",
                pos,
            )
        return A.Prop(pos, obj, name, safe)

    def _call_args(self, name: str) -> A.Args:
        positional: list[A.Node] = []
        named: list[tuple[str, A.Node]] = []
        if self.is_op("("):
            open_tok = self.advance()
            while not self.is_op(")"):
                key = self._named_key()
                if key is not None:
                    if any(k == key for k, _ in named):
                        raise PipelineError(f"argument '{key}' given twice", self.tok.pos)
                    named.append((key, self.expression()))
                else:
                    positional.append(self.expression())
                if self.is_op(","):
                    self.advance()
                elif not self.is_op(")"):
                    raise PipelineError(
                        f"expected ',' or ')' in the arguments of {name} opened at"
                        f" {open_tok.pos.line}:{open_tok.pos.col}, found {describe(self.tok)}",
                        self.tok.pos,
                    )
            self.advance()
        closure = None
        if self.is_op("{") and not self.tok.nl:
            closure = self._closure()
        return A.Args(tuple(positional), tuple(named), closure)

    def _command_args(self) -> A.Args:
        """`sh 'x'`, `echo msg`, `sh script: 'x', returnStdout: true`: arguments without parens."""
        positional: list[A.Node] = []
        named: list[tuple[str, A.Node]] = []
        while True:
            key = self._named_key()
            if key is not None:
                named.append((key, self.expression()))
            else:
                positional.append(self.expression())
            if self.is_op(",") and not self.tok.nl:
                self.advance()
                continue
            break
        closure = self._closure() if self.is_op("{") and not self.tok.nl else None
        return A.Args(tuple(positional), tuple(named), closure)

    def _named_key(self) -> str | None:
        t = self.tok
        if t.kind in ("ident", "str") and self.is_op(":", tok=self.peek()):
            self.k += 2
            return str(t.value)
        return None

    def _closure(self) -> A.Closure:
        open_tok = self.expect("{", "to open a closure")
        self.enter(open_tok.pos)
        params: list[str] = []
        explicit = False
        # { a, b -> ... } / { -> ... } / { String a -> ... }
        k = self.k
        names: list[str] = []
        while self.tok.kind == "ident":
            t = self.advance()
            if self.tok.kind == "ident" and t.value in TYPES:
                continue
            names.append(str(t.value))
            if self.is_op(","):
                self.advance()
                continue
            break
        if self.is_op("->"):
            self.advance()
            params, explicit = names, True
        else:
            self.k = k
            if self.is_op("->"):
                self.advance()
                explicit = True
        for p in params:
            self._check_variable_name(p, open_tok.pos)
        self.declared.update(params)  # a closure parameter may be a closure to call: body()
        body = self.statements()
        self.expect("}", f"to close the closure opened at {open_tok.pos.line}:{open_tok.pos.col}")
        self.depth -= 1
        return A.Closure(open_tok.pos, tuple(params), A.Block(open_tok.pos, tuple(body)), not explicit)

    def _primary(self) -> A.Node:
        t = self.tok
        if t.kind == "num":
            self.advance()
            return A.Lit(t.pos, t.value)
        if t.kind == "str":
            self.advance()
            return A.Lit(t.pos, t.value)
        if t.kind == "gstr":
            self.advance()
            return self._gstring(t)
        if self.is_op("("):
            self.advance()
            e = self.expression()
            self.expect(")", "to close (...)")
            return e
        if self.is_op("["):
            return self._list_or_map()
        if self.is_op("{"):
            return self._closure()
        if self.is_op("/"):
            raise PipelineError("slashy strings /.../ are not supported: use '...' quotes", t.pos)
        if self.is_op("@"):
            raise PipelineError("annotations such as @Library are not supported", t.pos)
        if t.kind == "ident":
            return self._name()
        if t.kind == "eof":
            raise PipelineError("expected a value, found end of file", t.pos)
        raise PipelineError(f"expected a value, found {describe(t)}", t.pos)

    def _name(self) -> A.Node:
        t = self.advance()
        name = str(t.value)
        if name == "true":
            return A.Lit(t.pos, True)
        if name == "false":
            return A.Lit(t.pos, False)
        if name == "null":
            return A.Lit(t.pos, None)
        if name in REFUSED:
            raise PipelineError(REFUSED[name], t.pos)
        if name[0].isupper() and not _ENV_NAME.fullmatch(name) and name not in self.declared:
            raise PipelineError(
                f"'{name}' (a Java/Groovy class) is not available in Dockyard's Groovy subset: it cannot"
                " reach the server's process, files or network; use steps (sh, readFile, writeFile...)",
                t.pos,
            )
        nxt = self.tok
        if self.is_op("(") and not nxt.nl:
            return self._func(t, name, self._call_args(name))
        if self.is_op("{") and not nxt.nl and (name in STEPS or name in FUNCTIONS or name in self.declared):
            return self._func(t, name, A.Args((), (), self._closure()))
        if not nxt.nl and self._command_start(nxt) and (name in STEPS or name in FUNCTIONS):
            return self._func(t, name, self._command_args())
        if (
            not nxt.nl
            and name[0].islower()
            and (  # `mail to: ...`: reported as an unknown step
                nxt.kind in ("str", "gstr") or (nxt.kind == "ident" and self.is_op(":", tok=self.peek()))
            )
        ):
            return self._func(t, name, self._command_args())
        return A.Name(t.pos, name)

    def _command_start(self, nxt: Tok) -> bool:
        if nxt.kind not in _CMD_ARG_START:
            return self.is_op("[", tok=nxt)
        return not (nxt.kind == "ident" and nxt.value in ("in", "instanceof", "as"))

    def _func(self, t: Tok, name: str, args: A.Args) -> A.Node:
        if name in REFUSED:
            raise PipelineError(REFUSED[name], t.pos)
        if name in STEPS and not self.steps_allowed:
            raise PipelineError(
                f"step {name}(...) cannot run here: call steps inside script {{ }} (or in"
                " environment values, when expressions)",
                t.pos,
            )
        spec = STEPS.get(name)
        if spec is not None:
            unknown = {k for k, _ in args.named} - spec.named
            if unknown:
                raise PipelineError(f"step '{name}': unknown argument(s) {', '.join(sorted(unknown))}", t.pos)
            if len(args.positional) > 1 or (args.positional and spec.positional is None):
                raise PipelineError(
                    f"step '{name}' takes named arguments only"
                    if spec.positional is None
                    else f"step '{name}' takes one unnamed argument",
                    t.pos,
                )
            if spec.block and args.closure is None:
                raise PipelineError(f"step '{name}' needs a {{ ... }} block", t.pos)
            if not spec.block and args.closure is not None:
                raise PipelineError(f"step '{name}' does not take a {{ ... }} block", t.pos)
        call = A.FuncCall(t.pos, name, args)
        self.calls.append(call)
        return call

    def check_calls(self) -> None:
        """Calls by name must be steps, builtins or closures the script declares."""
        for call in self.calls:
            if call.name not in STEPS and call.name not in FUNCTIONS and call.name not in self.declared:
                raise PipelineError(
                    f"unknown step or function '{call.name}' (steps: {', '.join(sorted(STEPS))})",
                    call.pos,
                )

    def _gstring(self, t: Tok) -> A.Node:
        parts: list[str | A.Node] = []
        assert isinstance(t.value, list)
        for part in t.value:
            if isinstance(part, str):
                parts.append(part)
                continue
            sub = Parser(part.toks, self.steps_allowed, self.depth + 1)
            sub.declared = self.declared
            expr = sub.expression()
            if not sub.is_end():
                raise PipelineError(f"unexpected {describe(sub.tok)} in ${{...}}", sub.tok.pos)
            self.calls.extend(sub.calls)
            parts.append(expr)
        return A.GStr(t.pos, tuple(parts))

    def _list_or_map(self) -> A.Node:
        open_tok = self.advance()
        self.enter(open_tok.pos)
        if self.is_op(":") and self.is_op("]", tok=self.peek()):
            self.k += 2
            self.depth -= 1
            return A.MapLit(open_tok.pos, ())
        items: list[A.Node] = []
        entries: list[tuple[A.Node, A.Node]] = []
        while not self.is_op("]"):
            key_tok = self.tok
            key: A.Node | None = None
            if key_tok.kind in ("ident", "str", "num") and self.is_op(":", tok=self.peek()):
                key = A.Lit(key_tok.pos, key_tok.value)
                self.k += 2
            elif self.is_op("("):
                save = self.k
                self.advance()
                inner = self.expression()
                if self.is_op(")") and self.is_op(":", tok=self.peek()):
                    self.k += 2
                    key = inner
                else:
                    self.k = save
            if key is not None:
                if items:
                    raise PipelineError("mixing list items and map entries", key_tok.pos)
                entries.append((key, self.expression()))
            else:
                if entries:
                    raise PipelineError("mixing list items and map entries", key_tok.pos)
                items.append(self.expression())
            if self.is_op(","):
                self.advance()
            elif not self.is_op("]"):
                raise PipelineError(
                    f"expected ',' or ']' in the list opened at {open_tok.pos.line}:{open_tok.pos.col},"
                    f" found {describe(self.tok)}",
                    self.tok.pos,
                )
        self.advance()
        self.depth -= 1
        if entries:
            return A.MapLit(open_tok.pos, tuple(entries))
        return A.ListLit(open_tok.pos, tuple(items))


_STATEMENT_WORDS = {"if", "for", "while", "try", "return", "break", "continue", "throw"}


def describe(t: Tok) -> str:
    if t.kind == "eof":
        return "end of file"
    if t.kind in ("str", "gstr"):
        return "a string"
    return f"'{t.value}'"


def parse_block(
    src: str, filename: str, start: int, line: int, col: int, opening: Pos
) -> tuple[A.Block, tuple[int, int, int]]:
    """The statements of a `{ ... }` whose `{` ends just before `start`: the block, and
    (offset, line, col) just after its closing `}`, where the caller resumes."""
    lexer = Lexer(src, filename, start, line, col)
    toks = lexer.until_close(opening)
    return Parser(toks).script(), (lexer.i, lexer.line, lexer.col)


def parse_expression_at(
    src: str, filename: str, start: int, line: int, col: int
) -> tuple[A.Node, tuple[int, int, int]]:
    """One expression starting at `start` (an environment value), ending at the end of its line
    (or before a `}` / `;`): the expression, and (offset, line, col) where the caller resumes."""
    lexer = Lexer(src, filename, start, line, col)
    toks: list[Tok] = []
    depth = 0
    while True:
        resume = (lexer.i, lexer.line, lexer.col)
        t = lexer.next()
        if t.kind == "eof" or (depth == 0 and toks and t.nl and not _continues(toks[-1], t)):
            break
        if t.kind == "op" and t.value in ("(", "[", "{"):
            depth += 1
        elif t.kind == "op" and t.value in (")", "]", "}"):
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and t.kind == "op" and t.value == ";":
            break
        toks.append(t)
    toks.append(Tok("eof", None, t.pos, True, t.end))
    p = Parser(toks)
    expr = p.expression()
    if not p.is_end():
        raise PipelineError(f"unexpected {describe(p.tok)}", p.tok.pos)
    p.check_calls()
    return expr, resume


def _continues(prev: Tok, nxt: Tok) -> bool:
    """A newline inside an expression: after a binary operator, or before `.`/`?.`/`?:`."""
    if prev.kind == "op" and prev.value not in (")", "]", "}", "++", "--"):
        return True
    return nxt.kind == "op" and nxt.value in (*_CONTINUES_LINE, "?:", "?", ":")


def parse_interpolation(toks: list[Tok]) -> A.Node:
    """The expression of a `${...}` (its tokens end with the closing `}`): steps not allowed."""
    p = Parser(toks, steps_allowed=False)
    expr = p.expression()
    if not p.is_end():
        raise PipelineError(f"unexpected {describe(p.tok)} in ${{...}}", p.tok.pos)
    p.check_calls()
    return expr


def parse_script(source: str, filename: str = "script") -> A.Block:
    """A whole text as a script (tests and tools)."""
    lexer = Lexer(source, filename)
    toks: list[Tok] = []
    while True:
        t = lexer.next()
        toks.append(t)
        if t.kind == "eof":
            break
    return Parser(toks).script()
