"""The report as text for a terminal, or as JSON for scripts (`--json`)."""

from __future__ import annotations

import json
import textwrap

from dockyard.doctor.findings import OK, PROBLEM, SKIPPED, WARNING, Report

_LABELS = {OK: "OK", PROBLEM: "PROBLEM", WARNING: "WARNING", SKIPPED: "SKIPPED"}
_INDENT = " " * 11


def render_text(report: Report) -> str:
    lines = []
    if report.context:
        lines.append("dockyard doctor: " + ", ".join(f"{k} {v}" for k, v in report.context.items()))
    for f in report.findings:
        lines.append(f"{_LABELS[f.status]:<9}  [{f.area}] {f.message}")
        if f.detail:
            lines.append(textwrap.indent(f.detail.rstrip(), _INDENT + "| "))
        if f.fix:
            first, *rest = f.fix.rstrip().splitlines()
            lines.append(f"{_INDENT}fix: {first}")
            lines.extend(f"{_INDENT}     {line}" for line in rest)
    problems, warnings, skipped = report.count(PROBLEM), report.count(WARNING), report.count(SKIPPED)
    summary = f"{problems} problem(s), {warnings} warning(s), {skipped} skipped, {report.count(OK)} ok"
    verdict = "a build would fail: fix the problems above" if problems else "nothing that breaks a build"
    lines.append(f"{summary}: {verdict}")
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2) + "\n"
