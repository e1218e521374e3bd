"""Kubernetes for the tests, built from the Go module proxy once per machine and cached.

`k8s.io/kubernetes` replaces its `k8s.io/*` staging modules with `./staging/...` paths, so
`go install k8s.io/kubernetes/cmd/...@v` refuses. A small module of our own requires it and pins
every staging module it replaces to the matching `v0.Y.Z` release (the list is read from the
Kubernetes go.mod itself), then `go build`s the five commands. The pause image is Kubernetes'
own pause.c from the same module, compiled statically and packed with `dockyard image import`.

Run `python -m tests.k8s.build` (`make deps-k8s`) to build before the tests; a no-op when cached.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.buildcache import BuildFailed, build_once, cache_dir

KUBERNETES_VERSION = "v1.36.3"
COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl")
PAUSE_IMAGE = f"dockyard.test/kubernetes/pause:{KUBERNETES_VERSION}"
_MODULE = "dockyardtest/k8snode"  # the same module as the first build here, so Go's cache hits
_STAGING_REPLACE = re.compile(r"^\s*(?:replace\s+)?(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", re.MULTILINE)
_BUILD_TIMEOUT = 3600


def release_dir() -> Path:
    return cache_dir() / f"kubernetes-{KUBERNETES_VERSION}"


def binaries_dir() -> Path:
    """Where the cached commands are (whether or not they are built yet)."""
    return release_dir() / "bin"


def ensure_binaries() -> Path:
    """The directory holding the five Kubernetes commands, built the first time."""
    return build_once(binaries_dir(), _build_binaries)


def ensure_pause_archive() -> Path:
    """An image archive (docker-archive + oci-archive) of the pause image, for `ctr import`."""
    return build_once(release_dir() / "pause.tar", _build_pause)


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildFailed(f"building Kubernetes {KUBERNETES_VERSION} needs Go (1.26 or newer) on PATH;"
                          f" or put its commands in {binaries_dir()}")
    return go


def _run(cmd: list[str], cwd: Path, capture: bool = False) -> str:
    env = {**os.environ, "CGO_ENABLED": "0"}
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=cwd, env=env, text=True, timeout=_BUILD_TIMEOUT,
                          stdout=subprocess.PIPE if capture else None)
    if proc.returncode != 0:
        raise BuildFailed(f"`{' '.join(cmd)}` in {cwd} failed (exit {proc.returncode}); its"
                          " error is above")
    return proc.stdout or ""


def _kubernetes_module(go: str, workdir: Path) -> dict[str, str]:
    """`go mod download -json` of k8s.io/kubernetes: its Dir (sources) and GoMod (go.mod path)."""
    out = _run([go, "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"], workdir,
               capture=True)
    info: dict[str, str] = json.loads(out)
    if info.get("Error"):
        raise BuildFailed(f"the Go module proxy did not serve k8s.io/kubernetes@{KUBERNETES_VERSION}:"
                          f" {info['Error']}")
    return info


def staging_replacements(kubernetes_go_mod: str) -> list[str]:
    """`k8s.io/X => k8s.io/X v0.Y.Z` for every staging module the Kubernetes go.mod replaces."""
    staging_version = "v0." + KUBERNETES_VERSION.split(".", 1)[1]
    modules = sorted(set(_STAGING_REPLACE.findall(kubernetes_go_mod)))
    return [f"{module} => {module} {staging_version}" for module in modules]


def _build_binaries(staging: Path) -> None:
    go = _go()
    module = release_dir() / "module"
    module.mkdir(parents=True, exist_ok=True)
    header = f"module {_MODULE}\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes {KUBERNETES_VERSION}\n"
    (module / "go.mod").write_text(header)
    imports = "".join(f'\t_ "k8s.io/kubernetes/cmd/{name}"\n' for name in COMMANDS)
    (module / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports})\n")
    info = _kubernetes_module(go, module)
    replaces = staging_replacements(Path(info["GoMod"]).read_text())
    if not replaces:
        raise BuildFailed(f"{info['GoMod']} replaces no staging module: has its layout changed?")
    (module / "go.mod").write_text(header + "\nreplace (\n" + "".join(f"\t{r}\n" for r in replaces)
                                   + ")\n")
    _run([go, "mod", "tidy"], module)
    version_flag = f"-X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION}"
    out = staging / "bin"
    _run([go, "build", "-trimpath", "-ldflags", f"-s -w {version_flag}", "-o", f"{out}/",
          *(f"k8s.io/kubernetes/cmd/{name}" for name in COMMANDS)], module)
    missing = [name for name in COMMANDS if not (out / name).exists()]
    if missing:
        raise BuildFailed(f"go build made no {', '.join(missing)} in {out}")


def _build_pause(staging: Path) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise BuildFailed("the pause image is compiled with gcc: apt-get install gcc libc6-dev")
    info = _kubernetes_module(_go(), staging)
    source = Path(info["Dir"]) / "build" / "pause" / "linux" / "pause.c"
    rootfs = staging / "rootfs"
    rootfs.mkdir()
    _run([gcc, "-Os", "-static", "-s", f"-DVERSION={KUBERNETES_VERSION}", "-o",
          str(rootfs / "pause"), str(source)], staging)
    _run([sys.executable, "-m", "dockyard", "image", "import", "--rootfs", str(rootfs),
          "--destination", PAUSE_IMAGE, "--no-push", "--tar-path", str(staging / "pause.tar"),
          "--reproducible", "--owner", "0:0", "--user", "65535:65535",
          "--entrypoint", '["/pause"]'], staging, capture=True)


def main() -> int:
    if shutil.which("go") is None and not binaries_dir().exists():
        print(f"warning: Go is not installed, so Kubernetes {KUBERNETES_VERSION} is not built and"
              " the tests that need a cluster are skipped", file=sys.stderr)
        return 0
    try:
        cached = binaries_dir().exists()
        print(f"kubernetes {KUBERNETES_VERSION}: {'cached' if cached else 'building'} in"
              f" {binaries_dir()}", flush=True)
        ensure_binaries()
        ensure_pause_archive()
    except BuildFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
