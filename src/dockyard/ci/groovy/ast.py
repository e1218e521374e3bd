"""Syntax tree of the Groovy subset. Every node keeps its file position for error messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.ci.errors import Pos


@dataclass(frozen=True)
class Node:
    pos: Pos


# -- expressions ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lit(Node):
    value: object


@dataclass(frozen=True)
class GStr(Node):
    parts: tuple[str | Node, ...]


@dataclass(frozen=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class MapLit(Node):
    entries: tuple[tuple[Node, Node], ...]


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Prop(Node):
    obj: Node
    name: str
    safe: bool = False


@dataclass(frozen=True)
class Index(Node):
    obj: Node
    index: Node


@dataclass(frozen=True)
class Args:
    positional: tuple[Node, ...] = ()
    named: tuple[tuple[str, Node], ...] = ()
    closure: Closure | None = None


@dataclass(frozen=True)
class FuncCall(Node):
    """`name(args)` / `name args` / `name(args) { closure }`: a step, a builtin or a local closure."""

    name: str
    args: Args


@dataclass(frozen=True)
class MethodCall(Node):
    obj: Node
    name: str
    args: Args
    safe: bool = False


@dataclass(frozen=True)
class Closure(Node):
    params: tuple[str, ...]
    body: Block
    implicit_it: bool = True


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Ternary(Node):
    cond: Node
    then: Node
    other: Node


@dataclass(frozen=True)
class Elvis(Node):
    value: Node
    other: Node


@dataclass(frozen=True)
class Range(Node):
    low: Node
    high: Node
    exclusive: bool


@dataclass(frozen=True)
class Assign(Node):
    target: Node  # Name, Prop or Index
    op: str  # =, +=, -=, *=, /=, %=
    value: Node


@dataclass(frozen=True)
class IncDec(Node):
    target: Node
    delta: int
    prefix: bool


# -- statements -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Block(Node):
    body: tuple[Node, ...] = field(default=())


@dataclass(frozen=True)
class ExprStmt(Node):
    expr: Node


@dataclass(frozen=True)
class VarDecl(Node):
    name: str
    value: Node | None


@dataclass(frozen=True)
class If(Node):
    cond: Node
    then: Node
    other: Node | None


@dataclass(frozen=True)
class ForIn(Node):
    var: str
    iterable: Node
    body: Node


@dataclass(frozen=True)
class ForC(Node):
    init: Node | None
    cond: Node | None
    update: Node | None
    body: Node


@dataclass(frozen=True)
class While(Node):
    cond: Node
    body: Node


@dataclass(frozen=True)
class Catch:
    name: str
    body: Block


@dataclass(frozen=True)
class Try(Node):
    body: Block
    catches: tuple[Catch, ...]
    final: Block | None


@dataclass(frozen=True)
class Return(Node):
    value: Node | None


@dataclass(frozen=True)
class Break(Node):
    pass


@dataclass(frozen=True)
class Continue(Node):
    pass


@dataclass(frozen=True)
class Throw(Node):
    value: Node


@dataclass(frozen=True)
class Script:
    """A parsed `script { }` body, `expression { }` body, or a single expression (environment
    values, `${...}` in strings); `steps` says whether it may call steps."""

    body: Block
    source: str = ""

    def __str__(self) -> str:  # shown in the model's repr, never evaluated from text
        return self.source
