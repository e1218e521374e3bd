"""dockyard.oci's public surface: every listed name resolves, and importing the package loads
none of its modules until a name is used (the executor's start-up pays only for what it uses)."""

from __future__ import annotations

import subprocess
import sys

import dockyard.oci as oci


def test_every_exported_name_resolves() -> None:
    assert sorted(oci.__all__) == sorted(oci._EXPORTS)
    for name in oci.__all__:
        assert getattr(oci, name) is not None, name


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        oci.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("dockyard.oci.NoSuchThing resolved")


def test_import_loads_no_submodule() -> None:
    code = ("import sys, dockyard.oci\n"
            "print(sorted(m for m in sys.modules if m.startswith('dockyard.oci.')))\n"
            "from dockyard.oci import parse_reference\n"
            "print('dockyard.oci.remote' in sys.modules, 'dockyard.oci.http' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["[]", "False False"]
