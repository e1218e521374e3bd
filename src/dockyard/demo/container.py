"""Run the built image the way a user checks it by hand: skopeo copy to an OCI layout, umoci
unpack to a runtime bundle, runc run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from dockyard.demo import tools


def unavailable_reason() -> str | None:
    """Why the image cannot be run here (missing tools, no namespaces, not root), or None."""
    for program in ("skopeo", "umoci", "runc"):
        if shutil.which(program) is None:
            return f"{program} is not installed (apt-get install {program})"
    if os.geteuid() != 0:
        return "runc needs root here (a rootless bundle is not set up by the demo)"
    return tools.namespaces_available()


def run_image(reference: str, credentials: str, workdir: Path) -> str:
    """Pull `reference` from a plain-HTTP registry, unpack it and run its CMD; return stdout."""
    workdir.mkdir(parents=True, exist_ok=True)
    layout = workdir / "oci"
    bundle = workdir / "bundle"
    tools.run(
        ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--src-creds", credentials,
         f"docker://{reference}", f"oci:{layout}:demo"],
        what=f"skopeo copy docker://{reference}", hide=[credentials],
    )
    tools.run(["umoci", "unpack", "--image", f"{layout}:demo", str(bundle)], what="umoci unpack")
    spec_path = bundle / "config.json"
    spec = json.loads(spec_path.read_text())
    spec["process"]["terminal"] = False  # no tty: capture the output
    spec_path.write_text(json.dumps(spec))
    return tools.run(["runc", "run", f"dockyard-demo-{os.getpid()}"], cwd=bundle, timeout=60,
                     what="runc run")
