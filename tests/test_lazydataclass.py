"""@lazy_dataclass behaves like @dataclass once used, whichever class of a hierarchy comes first."""

from __future__ import annotations

import dataclasses
from dataclasses import field

import pytest

from dockyard.lazydataclass import lazy_dataclass, materialize


def _classes() -> tuple[type, type]:
    @lazy_dataclass(frozen=True, kw_only=True)
    class Base:
        """A base with a default factory."""

        line: int
        flags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @lazy_dataclass(frozen=True, kw_only=True)
    class Child(Base):
        """A subclass adding a field."""

        text: str = ""

    return Base, Child


@pytest.mark.parametrize("first", ["base", "child"])
def test_hierarchy_materializes_in_either_order(first: str) -> None:
    base_cls, child_cls = _classes()
    assert not dataclasses.is_dataclass(base_cls)  # nothing generated at definition time
    if first == "child":
        child = child_cls(line=2, text="x")
        base = base_cls(line=1)
    else:
        base = base_cls(line=1)
        child = child_cls(line=2, text="x")
    assert (base.line, base.flags, child.line, child.text) == (1, {}, 2, "x")
    assert child == child_cls(line=2, text="x", flags={"ignored": "by eq"})
    assert hash(child) == hash(child_cls(line=2, text="x"))
    assert repr(base).endswith("Base(line=1, flags={})")
    with pytest.raises(dataclasses.FrozenInstanceError):
        child.text = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        child_cls(2)  # kw_only kept
    assert dataclasses.replace(child, text="z").text == "z"
    assert [f.name for f in dataclasses.fields(child_cls)] == ["line", "flags", "text"]


def test_materialize_before_any_instance() -> None:
    base_cls, _ = _classes()
    assert [f.name for f in dataclasses.fields(materialize(base_cls))] == ["line", "flags"]
    assert materialize(base_cls) is base_cls  # idempotent
