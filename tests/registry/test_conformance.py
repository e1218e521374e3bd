"""The OCI distribution-spec conformance suites (current generation and v1.1's) against `dockyard up`.

The suite is Go (`github.com/opencontainers/distribution-spec/conformance`, a main package since
it replaced the ginkgo tests); it is built from the module proxy into the test cache the first
time. It runs every API with sha512 content, tag parameters and upload cancel on; the only
cases it may skip are the optional anonymous blob mount (Dockyard answers a mount without
`from` with an upload session, which the spec allows). Sparse indexes (children not pushed)
stay off, as in the suite's defaults: Dockyard refuses an index whose manifests it lacks.

The older generation (distribution-spec v1.1.x: ginkgo tests in the same module path, which
`go install` cannot build) is compiled with `go test -c`. The proxy serves one pseudo-version
of that generation, CONFORMANCE_V11_VERSION (2023-11-01, the v1.1 release line; the module has
no tags of its own, so `@v1.1.0` is not served).
"""

from __future__ import annotations

import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer
from tests.s3server import go_binary, go_test_binary

CONFORMANCE = "github.com/opencontainers/distribution-spec/conformance"
CONFORMANCE_VERSION = "v0.0.0-20260831232431-97274622c111"
CONFORMANCE_V11_VERSION = "v0.0.0-20231101194043-f2182352d4cc"


def test_oci_conformance_suite_passes(server: DockyardServer, tmp_path: Path) -> None:
    binary = go_binary(CONFORMANCE, CONFORMANCE_VERSION, "oci-conformance")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OCI_")},
        "OCI_VERSION": "dev",
        "OCI_REGISTRY": server.host_port,
        "OCI_TLS": "disabled",
        "OCI_REPO1": "conformance/repo1",
        "OCI_REPO2": "conformance/repo2",
        "OCI_USERNAME": ADMIN_USER,
        "OCI_PASSWORD": ADMIN_PASSWORD,
        "OCI_DATA_SHA512": "true",
        "OCI_API_MANIFESTS_TAG_PARAM": "true",
        "OCI_API_BLOBS_UPLOAD_CANCEL": "true",
        "OCI_RESULTS_DIR": str(tmp_path / "results"),
        "OCI_LOG": "warn",
    }
    proc = subprocess.run([str(binary)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    output = proc.stdout + proc.stderr
    failed = re.search(r"^\s*FAIL\.+:\s*(\d+)", output, re.M)
    skipped = re.findall(r"^\s*(.+?)\.+:\s+Skip$", output, re.M)
    passed = re.findall(r"^\s*(.+?)\.+:\s+Pass$", output, re.M)
    assert proc.returncode == 0 and failed is not None and failed.group(1) == "0", output[-6000:]
    assert skipped == ["Blob anonymous mount"], output[-6000:]
    # the sha512 and tag-parameter data sets ran and passed (not merely skipped)
    for case in ("Blobs sha512", "Digest Algorithm sha512", "Tag Param sha512", "Blob upload cancel"):
        assert case in passed, output[-6000:]


def test_oci_conformance_v11_ginkgo_suite_passes(server: DockyardServer, tmp_path: Path) -> None:
    """All four workflows, every spec that runs passes; the skipped ones are the alternatives
    not taken (Dockyard answers a mount without `from` with an upload session, 202)."""
    binary = go_test_binary(CONFORMANCE, CONFORMANCE_V11_VERSION, "oci-conformance-ginkgo")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OCI_")},
        "OCI_ROOT_URL": server.url,
        "OCI_NAMESPACE": "conformance11/repo1",
        "OCI_CROSSMOUNT_NAMESPACE": "conformance11/repo2",
        "OCI_USERNAME": ADMIN_USER,
        "OCI_PASSWORD": ADMIN_PASSWORD,
        "OCI_TEST_PULL": "1",
        "OCI_TEST_PUSH": "1",
        "OCI_TEST_CONTENT_DISCOVERY": "1",
        "OCI_TEST_CONTENT_MANAGEMENT": "1",
        "OCI_AUTOMATIC_CROSSMOUNT": "false",
        "OCI_HIDE_SKIPPED_WORKFLOWS": "0",
        "OCI_REPORT_DIR": str(tmp_path),
    }
    proc = subprocess.run([str(binary)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    cases = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    outcome = {case.get("name", ""): ("failed" if case.find("failure") is not None or
                                      case.find("error") is not None else
                                      "skipped" if case.find("skipped") is not None else "passed")
               for case in cases}
    assert [name for name, result in outcome.items() if result == "failed"] == [], output[-6000:]
    skipped = {name.rsplit(" Tests ", 1)[-1] for name, result in outcome.items() if result == "skipped"}
    # each is one of two alternatives the suite chooses between; the other one ran and passed
    assert skipped == {
        "Pull Setup Get tag name from environment",  # (pushes its own images instead)
        "Content Discovery Setup Populate registry with test tags (no push)",  # (pushes them)
        # the mount of an existing blob answered 201, so the "not found" branch has nothing to do
        "Push Cross-Repository Blob Mount Cross-mounting of nonexistent blob should yield session id",
        "Push Cross-Repository Blob Mount Cross-mounting without from, and automatic content"
        " discovery enabled should return a 201",
    }, skipped
    passed = [name for name, result in outcome.items() if result == "passed"]
    assert len(passed) == 70, passed
    # `.INVALID_MANIFEST_NAME` is a valid reference the registry lacks: 404, not 400 TAG_INVALID
    assert sum("nonexistent manifest should return 404" in name for name in passed) == 3, passed
