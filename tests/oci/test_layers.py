"""Layer writing and safe applying; the malicious corpus must leave the host untouched."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.oci import (
    DigestMismatch,
    LayerError,
    LayerWriter,
    UnsafeLayerError,
    apply_layer,
    digest_file,
    mediatypes,
    write_layer,
    write_layer_from_dir,
)

IS_ROOT = os.geteuid() == 0


def make_tar(path: Path, build: Callable[[tarfile.TarFile], None], mode: str = "w") -> Path:
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    return path


def add_file(
    tar: tarfile.TarFile, name: str, data: bytes = b"", mode: int = 0o644, **kw: object
) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    for key, value in kw.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data))


def add_entry(
    tar: tarfile.TarFile, name: str, kind: bytes, linkname: str = "", **kw: object
) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o777
    for key, value in kw.items():
        setattr(info, key, value)
    tar.addfile(info)


def snapshot(directory: Path) -> dict[str, tuple[int, bytes | str]]:
    """Everything under `directory`: mode and content (or link target)."""
    out: dict[str, tuple[int, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[str(path)] = (st.st_mode, os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                out[str(path)] = (st.st_mode, path.read_bytes())
            else:
                out[str(path)] = (st.st_mode, b"")
    return out


@pytest.fixture
def sample_tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "etc").mkdir()
    (src / "bin" / "tool").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(src / "bin" / "tool", 0o4755)
    (src / "etc" / "conf").write_text("a=1\n")
    os.link(src / "bin" / "tool", src / "bin" / "tool2")
    os.symlink("tool", src / "bin" / "alias")
    os.symlink("/etc/conf", src / "abs-link")
    os.mkfifo(src / "fifo")
    (src / "empty").mkdir()
    os.chmod(src / "etc", 0o750)
    return src


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_write_then_apply_round_trip(tmp_path: Path, sample_tree: Path, compression: str) -> None:
    info = write_layer_from_dir(tmp_path / "layer", sample_tree, compression, mtime=0)
    assert info.media_type == mediatypes.layer_media_type(compression)
    assert digest_file(info.path) == (info.digest, info.size)
    if compression == "none":
        assert info.diff_id == info.digest
    root = tmp_path / "root"
    root.mkdir()
    result = apply_layer(info.path, root, expected_diff_id=info.diff_id)
    assert result.diff_id == info.diff_id
    assert (root / "bin" / "tool").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert stat.S_IMODE((root / "bin" / "tool").stat().st_mode) == 0o4755
    assert (root / "bin" / "tool").stat().st_ino == (root / "bin" / "tool2").stat().st_ino
    assert os.readlink(root / "bin" / "alias") == "tool"
    assert os.readlink(root / "abs-link") == "/etc/conf"
    assert stat.S_ISFIFO((root / "fifo").lstat().st_mode)
    assert stat.S_IMODE((root / "etc").stat().st_mode) == 0o750
    assert (root / "empty").is_dir()
    assert (root / "etc").stat().st_mtime == 0


def test_writer_is_deterministic(tmp_path: Path, sample_tree: Path) -> None:
    first = write_layer_from_dir(tmp_path / "a", sample_tree, "gzip", mtime=0)
    os.utime(sample_tree / "etc" / "conf", (12345, 12345))
    second = write_layer_from_dir(tmp_path / "b", sample_tree, "gzip", mtime=0)
    assert (first.digest, first.diff_id) == (second.digest, second.diff_id)
    clamped = write_layer_from_dir(tmp_path / "c", sample_tree, "none", clamp_mtime=20000)
    with tarfile.open(clamped.path) as tar:
        mtimes = {m.name: m.mtime for m in tar}
    assert mtimes["etc/conf"] == 12345 and mtimes["bin/tool"] == 20000


def test_write_layer_sorts_entries_and_writes_whiteouts(tmp_path: Path, sample_tree: Path) -> None:
    entries: list[tuple[str, Path | str | None]] = [
        ("z/conf", sample_tree / "etc" / "conf"),
        ("a", sample_tree / "etc"),
        ("gone", None),
        ("a/b-c", sample_tree / "etc" / "conf"),
    ]
    info = write_layer(tmp_path / "l", entries, "none")
    with tarfile.open(info.path) as tar:
        assert [m.name for m in tar] == ["a", "a/b-c", ".wh.gone", "z/conf"]


def test_whiteouts_and_opaque_directories(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "keep").mkdir(parents=True)
    (root / "keep" / "old").write_text("old")
    (root / "opq" / "sub").mkdir(parents=True)
    (root / "opq" / "lower").write_text("lower")
    (root / "opq" / "sub" / "deep").write_text("deep")
    (root / "gone-dir" / "x").mkdir(parents=True)
    (root / "gone-file").write_text("x")

    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "opq/new", b"new")
        add_entry(tar, "opq/sub", tarfile.DIRTYPE)
        add_file(tar, "opq/.wh..wh..opq")
        add_file(tar, ".wh.gone-dir")
        add_file(tar, ".wh.gone-file")
        add_file(tar, "keep/fresh", b"f")
        add_file(tar, "keep/.wh.fresh")  # a whiteout never hides its own layer's file
        add_file(tar, "nowhere/.wh.x")  # parent missing below: nothing to do

    apply_layer(make_tar(tmp_path / "l.tar", build), root)
    assert sorted(os.listdir(root / "opq")) == ["new", "sub"]
    assert os.listdir(root / "opq" / "sub") == []
    assert not (root / "gone-dir").exists() and not (root / "gone-file").exists()
    assert (root / "keep" / "old").read_text() == "old"
    assert (root / "keep" / "fresh").read_text() == "f"
    assert not (root / "nowhere").exists()


def test_entry_replaces_what_lower_layers_had(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "was-dir" / "child").mkdir(parents=True)
    (root / "was-file").write_text("x")

    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "was-dir", b"now a file")
        add_entry(tar, "was-file", tarfile.DIRTYPE)
        add_file(tar, "was-file/inside", b"i")

    apply_layer(make_tar(tmp_path / "l.tar", build), root)
    assert (root / "was-dir").read_bytes() == b"now a file"
    assert (root / "was-file" / "inside").read_bytes() == b"i"


def test_expected_diff_id_is_checked(tmp_path: Path) -> None:
    tar = make_tar(tmp_path / "l.tar", lambda t: add_file(t, "a", b"1"))
    (tmp_path / "root").mkdir()
    with pytest.raises(DigestMismatch, match="uncompressed layer"):
        apply_layer(tar, tmp_path / "root", expected_diff_id="sha256:" + "0" * 64)


def test_corrupt_layers_give_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "junk.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 20)
    with pytest.raises(LayerError, match="decompressed|not a valid tar"):
        apply_layer(tmp_path / "junk.gz", tmp_path / "root")
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(LayerError, match="not a valid tar"):
        apply_layer(tmp_path / "junk.tar", tmp_path / "root")


def test_writer_aborts_leave_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), LayerWriter(tmp_path / "out" / "layer") as writer:
        writer.add_bytes("a", b"1")
        raise RuntimeError("boom")
    assert os.listdir(tmp_path / "out") == []


# ----------------------------------------------------------------------- malicious corpus


@pytest.fixture
def arena(tmp_path: Path) -> tuple[Path, Path]:
    """A rootfs and, beside it, a host directory with a secret that must stay untouched."""
    root = tmp_path / "rootfs"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host secret")
    return root, outside


def _apply(tmp_path: Path, root: Path, build: Callable[[tarfile.TarFile], None]) -> None:
    apply_layer(make_tar(tmp_path / "evil.tar", build), root)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda t, o: add_file(t, "../outside/pwned", b"x"), "escapes the root"),
        (lambda t, o: add_file(t, "a/../../outside/pwned", b"x"), "escapes the root"),
        (lambda t, o: add_file(t, f"{o}/pwned", b"x"), "absolute path"),
        (lambda t, o: add_entry(t, "h", tarfile.LNKTYPE, "../outside/secret"), "escapes the root"),
        (lambda t, o: add_entry(t, "h", tarfile.LNKTYPE, f"{o}/secret"), "absolute path"),
        (lambda t, o: add_file(t, "../.wh.outside"), "escapes the root"),
        (lambda t, o: add_file(t, ".wh..."), "invalid whiteout"),
        (lambda t, o: add_entry(t, "h", tarfile.LNKTYPE, "."), "hardlink to the root"),
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "absolute",
        "hardlink-dotdot",
        "hardlink-absolute",
        "whiteout-escape",
        "whiteout-dotdot",
        "hardlink-root",
    ],
)
def test_escaping_names_are_refused(
    tmp_path: Path,
    arena: tuple[Path, Path],
    build: Callable[[tarfile.TarFile, Path], None],
    message: str,
) -> None:
    root, outside = arena
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeLayerError, match=message):
        _apply(tmp_path, root, lambda t: build(t, outside))
    after = snapshot(tmp_path)
    after.pop(str(tmp_path / "evil.tar"))
    assert after == before


def test_symlink_then_write_stays_inside(tmp_path: Path, arena: tuple[Path, Path]) -> None:
    root, outside = arena

    def build(tar: tarfile.TarFile) -> None:
        add_entry(tar, "abs", tarfile.SYMTYPE, str(outside))
        add_entry(tar, "rel", tarfile.SYMTYPE, "../../../../../../../../" + str(outside))
        add_file(tar, "abs/pwned", b"x")
        add_file(tar, "rel/pwned2", b"y")
        add_entry(tar, "abs/sub", tarfile.DIRTYPE)
        add_file(tar, "abs/sub/deeper", b"z")

    _apply(tmp_path, root, build)
    assert sorted(os.listdir(outside)) == ["secret"]
    inside = root / str(outside).lstrip("/")
    assert (inside / "pwned").read_bytes() == b"x"
    assert (inside / "pwned2").read_bytes() == b"y"
    assert (inside / "sub" / "deeper").read_bytes() == b"z"
    assert os.readlink(root / "abs") == str(outside)  # the link itself is kept as written


def test_final_symlink_is_replaced_not_followed(tmp_path: Path, arena: tuple[Path, Path]) -> None:
    root, outside = arena

    def build(tar: tarfile.TarFile) -> None:
        add_entry(tar, "victim", tarfile.SYMTYPE, str(outside / "secret"))
        add_file(tar, "victim", b"overwritten?")
        add_entry(tar, "dirlink", tarfile.SYMTYPE, str(outside))
        add_entry(tar, "dirlink", tarfile.DIRTYPE)
        add_file(tar, "dirlink/x", b"x")

    _apply(tmp_path, root, build)
    assert (outside / "secret").read_text() == "host secret"
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (root / "victim").read_bytes() == b"overwritten?"
    assert not (root / "victim").is_symlink()
    assert (root / "dirlink" / "x").read_bytes() == b"x"


def test_hardlinks_cannot_reach_outside(tmp_path: Path, arena: tuple[Path, Path]) -> None:
    root, outside = arena

    def via_symlinked_parent(tar: tarfile.TarFile) -> None:
        add_entry(tar, "evil", tarfile.SYMTYPE, str(outside))
        add_entry(tar, "h", tarfile.LNKTYPE, "evil/secret")

    with pytest.raises(LayerError, match="does not exist"):
        _apply(tmp_path, root, via_symlinked_parent)

    def to_symlink(tar: tarfile.TarFile) -> None:
        add_entry(tar, "lnk", tarfile.SYMTYPE, str(outside / "secret"))
        add_entry(tar, "h2", tarfile.LNKTYPE, "lnk")
        add_file(tar, "h2", b"clobber")  # rewriting the hardlinked path must not follow the link

    _apply(tmp_path, root, to_symlink)
    assert (outside / "secret").read_text() == "host secret"
    assert (outside / "secret").stat().st_nlink == 1

    def to_dir(tar: tarfile.TarFile) -> None:
        add_entry(tar, "d", tarfile.DIRTYPE)
        add_entry(tar, "hd", tarfile.LNKTYPE, "d")

    with pytest.raises(UnsafeLayerError, match="hardlink to a directory"):
        _apply(tmp_path, root, to_dir)


def test_symlink_loops_are_refused(tmp_path: Path, arena: tuple[Path, Path]) -> None:
    root, _ = arena

    def build(tar: tarfile.TarFile) -> None:
        add_entry(tar, "a", tarfile.SYMTYPE, "b")
        add_entry(tar, "b", tarfile.SYMTYPE, "a")
        add_file(tar, "a/x", b"x")

    with pytest.raises(LayerError, match="too many levels of symbolic links"):
        _apply(tmp_path, root, build)


def test_device_nodes_are_skipped_by_default(tmp_path: Path, arena: tuple[Path, Path]) -> None:
    root, _ = arena

    def build(tar: tarfile.TarFile) -> None:
        add_entry(tar, "dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0)
        add_entry(tar, "dev/mem", tarfile.CHRTYPE, devmajor=1, devminor=1)
        add_file(tar, "ok", b"ok")

    result = apply_layer(make_tar(tmp_path / "dev.tar", build), root)
    assert not (root / "dev" / "sda").exists() and not (root / "dev" / "mem").exists()
    assert (root / "ok").read_bytes() == b"ok"
    assert len(result.skipped) == 2 and "block device /dev/sda (8:0)" in result.skipped[0]


@pytest.mark.skipif(not IS_ROOT, reason="creating device nodes needs root")
def test_device_nodes_when_allowed_as_root(tmp_path: Path, arena: tuple[Path, Path]) -> None:
    root, _ = arena
    tar = make_tar(
        tmp_path / "dev.tar",
        lambda t: add_entry(t, "null", tarfile.CHRTYPE, devmajor=1, devminor=3),
    )
    apply_layer(tar, root, allow_devices=True)
    st = (root / "null").lstat()
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3


@pytest.mark.skipif(not IS_ROOT, reason="chown needs root")
def test_ownership_and_xattrs_as_root(tmp_path: Path, arena: tuple[Path, Path]) -> None:
    root, _ = arena

    def build(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("owned")
        info.uid, info.gid, info.mode, info.mtime = 1234, 5678, 0o2750, 1_000_000
        info.pax_headers = {"SCHILY.xattr.user.note": "hello"}
        tar.addfile(info, io.BytesIO(b""))
        add_entry(tar, "link", tarfile.SYMTYPE, "owned", uid=42, gid=43)

    apply_layer(make_tar(tmp_path / "own.tar", build), root)
    st = (root / "owned").lstat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_mtime) == (
        1234,
        5678,
        0o2750,
        1_000_000,
    )
    assert (root / "link").lstat().st_uid == 42
    try:
        assert os.getxattr(root / "owned", "user.note") == b"hello"
    except OSError:
        pytest.skip("this filesystem has no user xattrs")


@pytest.mark.skipif(not IS_ROOT, reason="chown needs root")
def test_upper_layer_sets_owner_of_a_lower_directory_and_files_in_setgid_dirs(
        tmp_path: Path, arena: tuple[Path, Path]) -> None:
    """Root-owned entries are chowned too: the directory may exist from a lower layer with
    another owner, and a new file in a setgid directory would inherit that group."""
    root, _ = arena

    def lower(tar: tarfile.TarFile) -> None:
        add_entry(tar, "app", tarfile.DIRTYPE, uid=1000, gid=1000, mode=0o2775)

    def upper(tar: tarfile.TarFile) -> None:
        add_entry(tar, "app", tarfile.DIRTYPE, uid=0, gid=0, mode=0o755)
        info = tarfile.TarInfo("app/file")
        info.uid = info.gid = 0
        tar.addfile(info, io.BytesIO(b""))

    apply_layer(make_tar(tmp_path / "lower.tar", lower), root)
    apply_layer(make_tar(tmp_path / "upper.tar", upper), root)
    assert ((root / "app").stat().st_uid, (root / "app").stat().st_gid) == (0, 0)
    assert (root / "app" / "file").stat().st_gid == 0


def test_clean_entry_name() -> None:
    from dockyard.oci import clean_entry_name

    assert clean_entry_name("./a//b/./c/") == "a/b/c"
    assert clean_entry_name("a/../b") == "b"
    assert clean_entry_name("./") == ""
    with pytest.raises(UnsafeLayerError, match="NUL"):
        clean_entry_name("a\x00b")


def test_whiteouts_can_be_plain_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "x").write_text("lower")
    tar = make_tar(tmp_path / "l.tar", lambda t: add_file(t, ".wh.x", b"data"))
    apply_layer(tar, root, whiteouts=False)
    assert (root / "x").read_text() == "lower" and (root / ".wh.x").read_bytes() == b"data"


def test_directory_replaced_by_symlink_mid_layer(tmp_path: Path, arena: tuple[Path, Path]) -> None:
    """A parent resolved earlier in the layer and then replaced by a symlink is resolved again."""
    root, outside = arena

    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "d/x", b"x")
        add_entry(tar, "d", tarfile.SYMTYPE, str(outside))
        add_file(tar, "d/y", b"y")

    _apply(tmp_path, root, build)
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (root / str(outside).lstrip("/") / "y").read_bytes() == b"y"
    assert os.readlink(root / "d") == str(outside)


def test_add_tar_copies_entries_and_refuses_escapes(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_entry(tar, "./", tarfile.DIRTYPE)
        add_entry(tar, "./dev", tarfile.DIRTYPE)
        add_entry(tar, "./dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3)
        add_file(tar, "./bin/tool", b"tool", 0o755, uid=1000, gid=1000, uname="someone")
        add_entry(tar, "./bin/tool2", tarfile.LNKTYPE, "./bin/tool")

    source = make_tar(tmp_path / "rootfs.tar.gz", build, "w:gz")
    with LayerWriter(tmp_path / "layer", "none", mtime=7) as writer, open(source, "rb") as f:
        assert writer.add_tar(f) == 4
    with tarfile.open(tmp_path / "layer") as tar:
        members = {m.name: m for m in tar}
    assert list(members) == ["dev", "dev/null", "bin/tool", "bin/tool2"]
    assert members["dev/null"].ischr() and members["dev/null"].devminor == 3
    assert members["bin/tool2"].linkname == "bin/tool"
    assert (members["bin/tool"].uid, members["bin/tool"].uname, members["bin/tool"].mtime) == (
        1000,
        "",
        7,
    )

    evil = make_tar(
        tmp_path / "evil.tar", lambda t: add_entry(t, "x", tarfile.LNKTYPE, "../../etc/shadow")
    )
    with pytest.raises(UnsafeLayerError, match="hardlink target.*escapes"), open(evil, "rb") as f:  # noqa: SIM117
        with LayerWriter(tmp_path / "evil-layer", "gzip") as writer:
            writer.add_tar(f)
    assert not (tmp_path / "evil-layer").exists()


def test_xattrs_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    try:
        os.setxattr(src / "f", "user.dockyard", b"\x00\xffbinary")
    except OSError:
        pytest.skip("this filesystem has no user xattrs")
    info = write_layer_from_dir(tmp_path / "layer", src, "none")
    with tarfile.open(info.path) as tar:
        member = tar.getmember("f")
    assert "SCHILY.xattr.user.dockyard" in member.pax_headers
    if not IS_ROOT:
        return
    root = tmp_path / "root"
    root.mkdir()
    apply_layer(info.path, root)
    assert os.getxattr(root / "f", "user.dockyard") == b"\x00\xffbinary"


def test_sockets_are_skipped_when_writing(tmp_path: Path) -> None:
    import socket

    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("x")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "app.sock"))
        info = write_layer_from_dir(tmp_path / "layer", src, "none")
    with tarfile.open(info.path) as tar:
        assert tar.getnames() == ["file"]
