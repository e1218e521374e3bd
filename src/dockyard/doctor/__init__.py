"""`dockyard doctor`: the tutorial's pitfall table, checked against a running Dockyard and the
cluster its builds run on. Each finding is OK, PROBLEM (a build would fail; the exit status is
non-zero), WARNING or SKIPPED, and a problem carries the command that fixes it.

Public surface: `run_doctor(DoctorOptions(server=Server(url, ...), job=..., kubeconfig=...))` ->
`Report` (`.findings`, `.exit_code`, `.as_dict()`), `render_text(report)`, `render_json(report)`,
`PodSettings` (what the executor adds to a template). The `kubernetes` package loads only when a
cluster is configured."""

from dockyard.doctor.findings import OK, PROBLEM, SKIPPED, WARNING, Finding, Report
from dockyard.doctor.pod import PodSettings
from dockyard.doctor.render import render_json, render_text
from dockyard.doctor.runner import DoctorOptions, run_doctor
from dockyard.doctor.server import Server

__all__ = [
    "OK",
    "PROBLEM",
    "SKIPPED",
    "WARNING",
    "DoctorOptions",
    "Finding",
    "PodSettings",
    "Report",
    "Server",
    "render_json",
    "render_text",
    "run_doctor",
]
