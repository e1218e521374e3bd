"""`junit 'reports/*.xml'`: JUnit XML reports of the workspace read (safely: no DTDs, so no entity
expansion or external fetches; bounded in files, bytes and cases), counts shown in the console,
the build UNSTABLE when tests failed (as Jenkins does), and the results kept in the build's
directory, served at /job/NAME/N/testReport/api/json in Jenkins' TestResult shape and returned to
scripts as Jenkins' summary (totalCount, failCount, skipCount, passCount)."""

from __future__ import annotations

import asyncio
import glob
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from dockyard.ci.steps.interface import Ctx, Step, StepFailed, StepHost
from dockyard.ci.steps.values import split_list
from dockyard.store import atomic_write_text

REPORT = "testReport.json"
MAX_FILES = 1000
MAX_BYTES = 16 << 20  # per report file
MAX_CASES = 100_000  # per build
_TEXT = 64 << 10  # characters of a failure message or trace kept


class JunitStep(Step):
    name = "junit"

    async def run(self, ctx: Ctx, host: StepHost) -> dict[str, int]:
        ws = host.paths.workspace.resolve()
        patterns = split_list(self.args["testResults"], ctx.env)
        files: list[Path] = []
        for pattern in patterns:
            for match in sorted(glob.glob(pattern, root_dir=ctx.cwd, recursive=True)):
                p = (ctx.cwd / match).resolve()
                if p.is_relative_to(ws) and p.is_file() and p not in files:
                    files.append(p)
        host.log.line("[Pipeline] junit\nRecording test results")
        if not files:
            if self.args.get("allowEmptyResults"):
                host.log.line("None of the test reports contained any result")
                return _summary(load_report(host.paths.root))
            raise StepFailed(f"No test report files were found. Configuration error? ({', '.join(patterns)})")
        if len(files) > MAX_FILES:
            raise StepFailed(f"junit: {len(files)} report files match; at most {MAX_FILES} are read")
        with host.trace.span("step", "junit", stage=ctx.stage) as span:
            suites = await asyncio.to_thread(_parse_all, files, ws)
            # read, merged and written with no await between: parallel branches (matrix cells)
            # recording at once each add their results, none is lost
            report = _merge(load_report(host.paths.root), suites)
            atomic_write_text(host.paths.root / REPORT, json.dumps(report))
            summary = _summary(report)
            span.detail.update(summary)
        added = _summary(_merge(empty_report(), suites))
        host.log.line(
            f"Tests: {added['totalCount']} run, {added['failCount']} failed, {added['skipCount']} skipped"
            f" ({len(files)} report file(s))"
        )
        if added["failCount"]:
            host.mark_result("UNSTABLE", ctx.stage)
            host.log.line(f"[dockyard] {added['failCount']} test(s) failed: the build is UNSTABLE")
        return summary


def empty_report() -> dict[str, Any]:
    return {
        "_class": "hudson.tasks.junit.TestResult",
        "testActions": [],
        "duration": 0.0,
        "empty": True,
        "failCount": 0,
        "passCount": 0,
        "skipCount": 0,
        "suites": [],
    }


def load_report(build_root: Path) -> dict[str, Any]:
    """The build's test results so far (an empty report when junit has not run)."""
    try:
        return dict(json.loads((build_root / REPORT).read_text()))
    except (FileNotFoundError, ValueError):
        return empty_report()


def test_result_action(report: dict[str, Any]) -> dict[str, Any] | None:
    """The TestResultAction a build's api/json lists when it has test results."""
    if report["empty"]:
        return None
    counts = _summary(report)
    return {
        "_class": "hudson.tasks.junit.TestResultAction",
        "failCount": counts["failCount"],
        "skipCount": counts["skipCount"],
        "totalCount": counts["totalCount"],
        "urlName": "testReport",
    }


def _summary(report: dict[str, Any]) -> dict[str, int]:
    fail, skip, passed = report["failCount"], report["skipCount"], report["passCount"]
    return {"totalCount": fail + skip + passed, "failCount": fail, "skipCount": skip, "passCount": passed}


def _merge(report: dict[str, Any], suites: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(report)
    out["suites"] = [*report["suites"], *suites]
    cases = [c for s in out["suites"] for c in s["cases"]]
    if len(cases) > MAX_CASES:
        raise StepFailed(f"junit: more than {MAX_CASES} test cases in one build")
    out["failCount"] = sum(c["status"] == "FAILED" for c in cases)
    out["skipCount"] = sum(c["status"] == "SKIPPED" for c in cases)
    out["passCount"] = len(cases) - out["failCount"] - out["skipCount"]
    out["duration"] = round(sum(s["duration"] for s in out["suites"]), 6)
    out["empty"] = not cases
    return out


def _parse_all(files: list[Path], ws: Path) -> list[dict[str, Any]]:
    suites: list[dict[str, Any]] = []
    for path in files:
        rel = path.relative_to(ws).as_posix()
        if path.stat().st_size > MAX_BYTES:
            raise StepFailed(f"junit: {rel} is over {MAX_BYTES >> 20} MiB")
        data = path.read_bytes()
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
            raise StepFailed(f"junit: {rel} has a DTD or entities; JUnit reports need neither (refused)")
        try:
            root = ET.fromstring(data)
        except ET.ParseError as e:
            raise StepFailed(f"junit: {rel} is not valid XML: {e}") from None
        if root.tag not in ("testsuites", "testsuite"):
            raise StepFailed(f"junit: {rel} is not a JUnit report (root element <{root.tag}>)")
        suites.extend(_suite(s) for s in root.iter("testsuite"))
    return suites


def _suite(el: ET.Element) -> dict[str, Any]:
    cases = [_case(c) for c in el.findall("testcase")]
    return {
        "cases": cases,
        "duration": _seconds(el.get("time")) or round(sum(c["duration"] for c in cases), 6),
        "enclosingBlockNames": [],
        "enclosingBlocks": [],
        "id": el.get("id"),
        "name": el.get("name", ""),
        "nodeId": None,
        "stderr": None,
        "stdout": None,
        "timestamp": el.get("timestamp"),
    }


def _case(el: ET.Element) -> dict[str, Any]:
    failure = el.find("failure")
    if failure is None:
        failure = el.find("error")
    skipped = el.find("skipped")
    status = "FAILED" if failure is not None else ("SKIPPED" if skipped is not None else "PASSED")
    return {
        "testActions": [],
        "age": 1 if failure is not None else 0,
        "className": el.get("classname", ""),
        "duration": _seconds(el.get("time")),
        "errorDetails": _text(failure.get("message")) if failure is not None else None,
        "errorStackTrace": _text(failure.text) if failure is not None else None,
        "failedSince": 0,
        "name": el.get("name", ""),
        "skipped": skipped is not None,
        "skippedMessage": _text(skipped.get("message")) if skipped is not None else None,
        "status": status,
        "stderr": None,
        "stdout": None,
    }


def _seconds(value: str | None) -> float:
    try:
        return round(float((value or "0").replace(",", "")), 6)
    except ValueError:
        return 0.0


def _text(value: str | None) -> str | None:
    return None if value is None else value.strip()[:_TEXT]
