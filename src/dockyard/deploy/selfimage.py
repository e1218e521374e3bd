"""Dockyard's own image, built by Dockyard's builder: no Docker daemon, nothing from a
container registry.

The base is Debian made here with mmdebstrap (the `essential` variant plus python3 = 3.11, git,
ca-certificates and busybox-static; apt, perl, git's manuals and docs left out), imported as a
one-layer OCI layout and cached per suite and package list under a lock, so a machine makes it
once. Dockyard goes in from a wheelhouse that `pip wheel` builds from the source tree (the
only step that uses the network, through pip's own index settings); the image's RUN installs it
with `--no-index`. The Dockerfile is `image.Dockerfile` next to this module (the repository's
deploy/image/Dockerfile points to it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

DOCKERFILE = Path(__file__).with_name("image.Dockerfile")
SUITE = "bookworm"  # python3 is 3.11 there, as the wheels built by this interpreter need
PACKAGES = ("python3", "git", "ca-certificates", "busybox-static")
# Dependencies of git that Dockyard's use of it (clone, init, upload/receive-pack, commit)
# never runs; ~45 MB of perl.
PURGE = ("git-man", "liberror-perl", "perl", "perl-modules-5.36", "libperl5.36")
EXCLUDE = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
           "/usr/share/gitweb/*", "/usr/share/lintian/*")
BASE_TAG = "dockyard-base:" + SUITE
Log = Callable[[str], None]


class SelfImageError(RuntimeError):
    """A step of the image build failed; the message names it and the fix."""


def base_key() -> str:
    text = "|".join([SUITE, *PACKAGES, "purge", *PURGE, "exclude", *EXCLUDE, "v1"])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def base_layout(cache_dir: Path, log: Log, refresh: bool = False) -> str:
    """`oci-layout://DIR:TAG` of the Debian base, made with mmdebstrap on first use (under a
    lock: concurrent callers wait for one build); `refresh` makes it again (Debian's updates)."""
    target = cache_dir / f"base-{SUITE}-{base_key()}"
    ref = f"oci-layout://{target}:{SUITE}"
    if (target / "index.json").is_file() and not refresh:
        return ref
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / ".base.lock"):
        if refresh:
            shutil.rmtree(target, ignore_errors=True)
        if (target / "index.json").is_file():
            return ref
        mmdebstrap = shutil.which("mmdebstrap")
        if mmdebstrap is None:
            raise SelfImageError("making the Debian base needs mmdebstrap (apt install mmdebstrap),"
                                 " or pass --base with an image you have")
        with tempfile.TemporaryDirectory(prefix="dockyard-base-", dir=cache_dir) as tmp:
            tar = Path(tmp) / "rootfs.tar"
            purge = " ".join(PURGE)
            argv = [mmdebstrap, "--variant=essential", "--include=" + ",".join(PACKAGES),
                    "--aptopt=APT::Install-Recommends \"false\"", "--skip=output/dev",
                    *(f"--dpkgopt=path-exclude={p}" for p in EXCLUDE),
                    f'--customize-hook=chroot "$1" dpkg --purge --force-depends {purge}',
                    '--customize-hook=rm -rf "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old',
                    SUITE, str(tar)]
            log(f"making the Debian {SUITE} base with mmdebstrap ({', '.join(PACKAGES)})")
            _run(argv, "mmdebstrap")
            layout = Path(tmp) / "layout"
            _run([sys.executable, "-m", "dockyard", "image", "import", "--rootfs", str(tar),
                  "--oci-layout", str(layout), "--no-push", "--reproducible",
                  "--destination", BASE_TAG], "dockyard image import")
            layout.rename(target)
    return ref


def wheelhouse(source: Path, target: Path, log: Log) -> None:
    """Wheels of Dockyard (from `source`), its dependencies and pip itself into `target`."""
    if not (source / "pyproject.toml").is_file():
        raise SelfImageError(f"{source} is not a Dockyard source tree (no pyproject.toml); pass"
                             " --source with a checkout")
    log(f"building wheels of {source} and its dependencies (pip wheel)")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
          "--wheel-dir", str(target), str(source), "pip"], "pip wheel")


def default_cache_dir() -> Path:
    """~/.cache/dockyard/self-image (the builder's own cache is per build context)."""
    return Path.home() / ".cache" / "dockyard" / "self-image"


def source_tree() -> Path:
    """The checkout this Dockyard runs from (an editable install)."""
    import dockyard

    return Path(dockyard.__file__).resolve().parent.parent.parent


@contextlib.contextmanager
def context_dir(source: Path, log: Log) -> Iterator[Path]:
    """A build context: the Dockerfile and wheels/ (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="dockyard-self-") as tmp:
        context = Path(tmp)
        shutil.copyfile(DOCKERFILE, context / "Dockerfile")
        wheelhouse(source, context / "wheels", log)
        yield context


def build_argv(context: Path, base: str, destinations: list[str], *, push: bool,
               insecure_registries: list[str], extra: list[str]) -> list[str]:
    """`dockyard build` of the context with BASE set."""
    argv = [str(context), "-f", str(context / "Dockerfile"), "--build-arg", f"BASE={base}",
            "--reproducible", *extra]
    for destination in destinations:
        argv += ["-t", destination]
    for host in insecure_registries:
        argv += ["--insecure-registry", host]
    return argv + (["--push"] if push else [])


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise SelfImageError(f"{what} failed (exit {result.returncode}):\n{tail}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
