"""A stage's filesystem as stacked overlay lower directories, instead of a hard-link clone.

The base is unpacked once per layer chain into the cache dir (`baseimage.rootfs_for`); a
stage no longer copies it: its filesystem is a list of directories, bottom first (the
cached base, then the upper dir of each RUN and the staging tree of each COPY/WORKDIR, and
cache hits unpacked as overlay-format directories: `.wh.x` a 0/0 character device, an
opaque directory the `trusted.overlay.opaque` xattr). Readers (COPY's destination, USER
lookups, `COPY --from`) see the stack through one read-only overlay mount at the stage's
rootfs path; a RUN gets the directories themselves as its overlay's lowers (never the
merged mount: no nested overlay), and its upper dir becomes the next layer of the stack.

The merged mounts live in a private mount namespace that the build's thread enters first
(`enter_private_mounts`; threads it starts later share it, the host never sees a mount)
and are unmounted when the build ends. Where that is not possible (not root, rootless,
no overlay, `DOCKYARD_SNAPSHOT=tree`) the engine keeps the clone-and-merge path.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import stat
import subprocess
import threading
from pathlib import Path

from dockyard.oci import Layer, apply_layer

CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
OPAQUE_XATTR = "trusted.overlay.opaque"
WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
# the kernel takes at most one page of mount options: above this the stack is squashed
MAX_OPTIONS = 3500

_lock = threading.Lock()
_private: set[str] = set()  # the private mount namespaces this process made
_refused: list[bool] = []  # set once unshare failed: not tried again


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount_namespace() -> str:
    try:
        return os.readlink("/proc/thread-self/ns/mnt")
    except OSError:
        return ""


def enter_private_mounts() -> bool:
    """Moves the calling thread, and every thread it starts from now on, into a private
    mount namespace (unless it is in one already): the build's first act, before it starts
    any thread, so that all of them see the stage mounts. False where this process may
    not (not real root: rootless, a pod without CAP_SYS_ADMIN)."""
    with _lock:
        if _mount_namespace() in _private:
            return True
        if _refused or os.geteuid() != 0:
            return False
        from dockyard.sandbox import rootless

        libc = _libc()
        try:
            if rootless():
                raise OSError("no CAP_SYS_ADMIN")
            _check(libc.unshare(CLONE_NEWNS), "unshare the mount namespace")
            _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None),
                   "make the mounts private")
        except OSError:
            _refused.append(True)
            return False
        _private.add(_mount_namespace())
        return True


def in_private_mounts() -> bool:
    """Whether the calling thread is in a mount namespace `enter_private_mounts` made."""
    return _mount_namespace() in _private


def _mount_overlay(lowers: list[Path], target: Path) -> None:
    """A read-only overlay of `lowers` (bottom first) at `target`."""
    if len(lowers) == 1:
        _check(_libc().mount(str(lowers[0]).encode(), str(target).encode(), None,
                             4096 | MS_REC, None), f"bind {lowers[0]}")  # MS_BIND
        _check(_libc().mount(b"none", str(target).encode(), None,
                             4096 | 32 | MS_RDONLY, None), "make it read-only")  # REMOUNT
        return
    options = "lowerdir=" + ":".join(str(p) for p in reversed(lowers))
    _check(_libc().mount(b"overlay", str(target).encode(), b"overlay", MS_RDONLY,
                         options.encode()), f"overlay at {target}")


def _umount(target: Path) -> None:
    with contextlib.suppress(OSError):
        _check(_libc().umount2(str(target).encode(), MNT_DETACH), f"unmount {target}")


def stacks_supported(scratch: Path) -> bool:
    """Whether merged read-only overlays of several lowers can be mounted here (probed once
    per build in its scratch dir, after `enter_private_mounts`)."""
    probe = scratch / "stack-probe"
    try:
        for name in ("a/d", "b/d", "m"):
            (probe / name).mkdir(parents=True)
        (probe / "a" / "f").write_text("a")
        (probe / "a" / "d" / "g").write_text("a")
        os.mknod(probe / "b" / "f", stat.S_IFCHR | 0o600, 0)  # a whiteout hides a's file
        # an opaque directory hides a's d/g (the trusted xattr: what the RUN uppers carry)
        os.setxattr(probe / "b" / "d", OPAQUE_XATTR, b"y", follow_symlinks=False)
        _mount_overlay([probe / "a", probe / "b"], probe / "m")
        try:
            return not os.path.lexists(probe / "m" / "f") and \
                not os.path.lexists(probe / "m" / "d" / "g")
        finally:
            _umount(probe / "m")
    except OSError:
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


class LayerStack:
    """The directories of one stage (bottom first) and their merged view at `mountpoint`."""

    def __init__(self, mountpoint: Path, layers: list[Path], scratch: Path) -> None:
        self.mountpoint = mountpoint
        self.layers = list(layers)
        self.scratch = scratch
        self.mounted = False
        mountpoint.mkdir(parents=True, exist_ok=True)
        self._mount()

    def _options_length(self) -> int:
        return sum(len(str(p)) + 1 for p in self.layers) + 16

    def _mount(self) -> None:
        if self.mounted:
            _umount(self.mountpoint)
            self.mounted = False
        if self._options_length() > MAX_OPTIONS:
            self._squash()
        _mount_overlay(self.layers, self.mountpoint)
        self.mounted = True

    def _squash(self) -> None:
        """Too many layers for one mount: one copy of the merged view replaces them."""
        squashed = self.new_layer_dir("squash")
        squashed.rmdir()
        _mount_overlay(self.layers, self.mountpoint)
        try:
            subprocess.run(["cp", "-a", "--", f"{self.mountpoint}/.", str(squashed)],
                           check=True)
        finally:
            _umount(self.mountpoint)
        self.layers = [squashed]

    def new_layer_dir(self, prefix: str) -> Path:
        parent = self.scratch / "layers"
        parent.mkdir(exist_ok=True)
        index = len(os.listdir(parent))
        while True:
            path = parent / f"{prefix}{index}"
            try:
                path.mkdir()
                return path
            except FileExistsError:
                index += 1

    def push(self, layer_dir: Path) -> None:
        """`layer_dir` (an upper dir or staging tree, now never written again) on top."""
        self.layers.append(layer_dir)
        self._mount()

    def push_layer(self, layer: Layer) -> None:
        """A cached layer blob unpacked as an overlay-format directory, on top."""
        target = self.new_layer_dir("hit")
        apply_layer(layer.fetch(), target, expected_diff_id=layer.diff_id, whiteouts=False)
        to_overlay_format(target)
        self.push(target)

    def close(self) -> None:
        if self.mounted:
            _umount(self.mountpoint)
            self.mounted = False


def to_overlay_format(root: Path) -> None:
    """OCI whiteouts of an unpacked layer directory as overlayfs's: `.wh.NAME` becomes a
    0/0 character device NAME (unless the layer itself has NAME), `.wh..wh..opq` the
    opaque xattr of its directory; other `.wh..wh.` (aufs metadata) files go away."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            if not name.startswith(WHITEOUT_PREFIX):
                continue
            path = os.path.join(dirpath, name)
            os.unlink(path)
            if name == OPAQUE_WHITEOUT:
                os.setxattr(dirpath, OPAQUE_XATTR, b"y", follow_symlinks=False)
                continue
            hidden = name[len(WHITEOUT_PREFIX):]
            if name.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX) or hidden in ("", ".", ".."):
                continue
            target = os.path.join(dirpath, hidden)
            if not os.path.lexists(target):
                os.mknod(target, stat.S_IFCHR | 0o000, 0)
