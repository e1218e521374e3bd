"""Every Dockyard setting lives in `dockyard.config.Settings` (issue 11): the environment is read
once by `Settings.from_environ()`, README's Settings table names exactly its variables, and no
other server-side module reads a `DOCKYARD_*` variable from the environment."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from dockyard.config import ENVIRONMENT, Settings

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "dockyard"
# Read where no Settings exists (see the Settings docstring): the builder's executor path, which
# runs alone in a pod, and the client commands' user environment.
OWN_ENVIRONMENT = {
    "builder/options.py": {"DOCKYARD_CACHE_DIR", "DOCKYARD_DATA_DIR", "DOCKYARD_SNAPSHOT"},
    "builder/kaniko.py": {"DOCKYARD_SNAPSHOT"},
    "cli/remote.py": {"DOCKYARD_URL", "DOCKYARD_USER", "DOCKYARD_PASSWORD", "DOCKYARD_TOKEN"},
    "cli/gitops_cmd.py": {"DOCKYARD_URL"},
    # `dockyard doctor` checks a cluster as the server's Kubernetes executor would see it, from the
    # environment the server's settings come from
    "cli/doctor_cmd.py": {"DOCKYARD_K8S_AGENT_IMAGE", "DOCKYARD_K8S_NAMESPACE", "DOCKYARD_K8S_KUBECONFIG"},
}


def readme_table() -> set[str]:
    """The variables in the first column of README's Settings table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`(DOCKYARD_[A-Z0-9_]+)`", line.split("|")[1]))
    return names


def test_the_readme_table_names_every_setting_and_nothing_else() -> None:
    table = readme_table()
    missing, unknown = sorted(set(ENVIRONMENT) - table), sorted(table - set(ENVIRONMENT))
    assert not missing and not unknown, (
        f"README's Settings table and dockyard.config.ENVIRONMENT differ: missing from the table "
        f"{missing}, in the table but not in Settings {unknown}")


def test_every_variable_sets_a_field() -> None:
    fields = set(Settings.__dataclass_fields__)
    assert {attribute for attribute, _ in ENVIRONMENT.values()} <= fields


def environment_reads(path: Path) -> list[tuple[int, str]]:
    """(line, name) of each `os.environ[...]`, `os.environ.get(...)`, `os.getenv(...)` and
    `environ.get(...)` with a literal DOCKYARD_* name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        key: ast.expr | None = None
        if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("environ"):
            key = node.slice
        elif isinstance(node, ast.Call) and node.args and ast.unparse(node.func).endswith(
                ("environ.get", "getenv")):
            key = node.args[0]
        if isinstance(key, ast.Constant) and str(key.value).startswith("DOCKYARD_"):
            found.append((node.lineno, str(key.value)))
    return found


def test_no_other_module_reads_a_dockyard_setting() -> None:
    offending = []
    for path in sorted(SRC.rglob("*.py")):
        module = path.relative_to(SRC).as_posix()
        if module.startswith("config/"):
            continue
        for line, name in environment_reads(path):
            if name not in OWN_ENVIRONMENT.get(module, set()):
                offending.append(f"src/dockyard/{module}:{line}: {name}")
    assert not offending, ("read dockyard.config.Settings instead of the environment:\n  "
                           + "\n  ".join(offending))


def test_from_environ_parses_and_names_bad_values(tmp_path: Path) -> None:
    settings = Settings.from_environ({
        "DOCKYARD_DATA_DIR": str(tmp_path), "DOCKYARD_CI_EXECUTORS": "3", "DOCKYARD_CI_PREWARM": "off",
        "DOCKYARD_WEBHOOK_RETRY_DELAYS": "0.5, 1", "DOCKYARD_UPLOAD_TTL": "60",
        "AWS_REGION": "eu-1", "HOME": "/root"}, port=9000)
    assert (settings.data_dir, settings.port, settings.ci_executors) == (tmp_path, 9000, 3)
    assert settings.ci_prewarm is False
    assert settings.webhook_retry_delays == (0.5, 1.0) and settings.upload_ttl == 60.0
    assert settings.aws_environment == {"AWS_REGION": "eu-1"}
    assert Settings.from_environ({}, data_dir=tmp_path) == Settings(data_dir=tmp_path)
    for name, raw in [("DOCKYARD_CI_EXECUTORS", "0"), ("DOCKYARD_UPLOAD_TTL", "soon"),
                      ("DOCKYARD_WEBHOOK_RETRY_DELAYS", "1,x")]:
        with pytest.raises(ValueError, match=name):
            Settings.from_environ({name: raw})
