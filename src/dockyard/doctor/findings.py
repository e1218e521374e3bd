"""What the doctor reports: one `Finding` per check, gathered in a `Report`.

A finding is OK, a PROBLEM (a build would fail: the exit status is non-zero), a WARNING (works
today, worth a look) or SKIPPED (could not be checked, and why). A problem always carries the
command or the change that fixes it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OK = "ok"
PROBLEM = "problem"
WARNING = "warning"
SKIPPED = "skipped"
STATUSES = (OK, PROBLEM, WARNING, SKIPPED)


@dataclass(frozen=True)
class Finding:
    area: str  # server, ci, git, job, template, kubernetes, rbac, admission, secret, registry, network
    check: str  # a stable id, e.g. "rbac.pods" or "secret.items"
    status: str
    message: str
    fix: str = ""  # the exact command (or template change) that fixes a problem
    detail: str = ""  # quoted text: an admission message, a fixed YAML, a pod's output

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown finding status {self.status!r}")


@dataclass
class Report:
    context: dict[str, str] = field(default_factory=dict)  # server, user, job, cluster, namespace
    findings: list[Finding] = field(default_factory=list)

    def add(self, area: str, check: str, status: str, message: str, fix: str = "",
            detail: str = "") -> Finding:
        finding = Finding(area, check, status, message, fix, detail)
        self.findings.append(finding)
        return finding

    def count(self, status: str) -> int:
        return sum(1 for f in self.findings if f.status == status)

    @property
    def exit_code(self) -> int:
        """1 when something would break a build, else 0."""
        return 1 if self.count(PROBLEM) else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.exit_code == 0,
            "exit_code": self.exit_code,
            "context": dict(self.context),
            "summary": {s: self.count(s) for s in STATUSES},
            "findings": [asdict(f) for f in self.findings],
        }


def brief(error: BaseException, limit: int = 300) -> str:
    """An exception as one short line for a finding."""
    text = " ".join((str(error) or type(error).__name__).split())
    return text if len(text) <= limit else text[:limit] + "..."
