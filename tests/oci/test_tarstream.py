"""The streaming tar reader behind apply_layer: every header form real tools write, bad input."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from dockyard.oci.tarstream import ReadAhead, TarStream, TarStreamError


def _members(data: bytes, out: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Every member with its data (read through write_data into a real file)."""
    source = ReadAhead(io.BytesIO(data).read)
    result = []
    try:
        stream = TarStream(source)
        for index, info in enumerate(stream.members()):
            content = None
            if info.isreg():
                target = out / f"m{index}"
                fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o600)
                try:
                    stream.write_data(fd)
                finally:
                    os.close(fd)
                content = target.read_bytes()
            result.append((info, content))
        source.drain()
    finally:
        source.close()
    return result


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _file(name: str, data: bytes, **attrs: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_reads_what_tarfile_writes(tmp_path: Path, fmt: int) -> None:
    sizes = [0, 1, 511, 512, 513, (1 << 20) - 3, (1 << 20) + 700, 3 * (1 << 20) + 1]
    entries = [_file(f"dir/f{n}", os.urandom(n), mode=0o640, uid=7, gid=8, mtime=1234567890)
               for n in sizes]
    link = tarfile.TarInfo("dir/link")
    link.type, link.linkname = tarfile.SYMTYPE, "f1"
    directory = tarfile.TarInfo("dir/sub")
    directory.type, directory.mode = tarfile.DIRTYPE, 0o750
    entries += [(link, None), (directory, None)]
    got = _members(_tar(entries, fmt), tmp_path)
    assert [(i.name, i.type, i.mode, i.uid, i.gid, i.mtime) for i, _ in got] == [
        (i.name, i.type, i.mode, i.uid, i.gid, i.mtime) for i, _ in entries
    ]
    assert [data for _, data in got] == [data for _, data in entries]
    assert got[-2][0].linkname == "f1"


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_long_names_links_and_pax_records(tmp_path: Path, fmt: int) -> None:
    long_dir = "a" * 120 + "/" + "b" * 120
    entries = [_file(f"{long_dir}/file-{'c' * 150}", b"x" * 700)]
    link = tarfile.TarInfo(f"{long_dir}/hard")
    link.type, link.linkname = tarfile.LNKTYPE, f"{long_dir}/file-{'c' * 150}"
    entries.append((link, None))
    got = _members(_tar(entries, fmt), tmp_path)
    assert got[0][0].name == entries[0][0].name and got[0][1] == b"x" * 700
    assert got[1][0].linkname == link.linkname


def test_pax_overrides_and_xattrs_reach_pax_headers(tmp_path: Path) -> None:
    info, data = _file("caps", b"bin", uid=3_000_000, gid=2_500_000)
    info.pax_headers = {"SCHILY.xattr.user.note": "hi", "mtime": "1700000000.5"}
    (got, content), = _members(_tar([(info, data)], tarfile.PAX_FORMAT), tmp_path)
    assert (got.uid, got.gid, got.mtime, content) == (3_000_000, 2_500_000, 1700000000.5, b"bin")
    assert got.pax_headers["SCHILY.xattr.user.note"] == "hi"


def test_global_pax_header_applies_to_following_members(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"uname": "builder"}) as tar:
        for name in ("one", "two"):
            info = tarfile.TarInfo(name)
            tar.addfile(info, io.BytesIO())
    got = _members(buffer.getvalue(), tmp_path)
    assert [(i.name, i.uname) for i, _ in got] == [("one", "builder"), ("two", "builder")]


def test_gnu_tar_archive_with_long_names(tmp_path: Path) -> None:
    """An archive written by GNU tar itself (its own long-name records)."""
    tree = tmp_path / "tree"
    deep = tree / ("d" * 90) / ("e" * 90)
    deep.mkdir(parents=True)
    (deep / ("f" * 100)).write_bytes(b"deep")
    archive = subprocess.run(["tar", "--format=gnu", "-C", str(tree), "-cf", "-", "."],
                             check=True, capture_output=True).stdout
    out = tmp_path / "out"
    out.mkdir()
    names = {info.name: data for info, data in _members(archive, out)}
    assert names[f"./{'d' * 90}/{'e' * 90}/{'f' * 100}"] == b"deep"


def test_truncated_stream_is_an_error(tmp_path: Path) -> None:
    data = _tar([_file("big", os.urandom(5000))], tarfile.USTAR_FORMAT)
    with pytest.raises(TarStreamError, match="truncated"):
        _members(data[:2048], tmp_path)


def test_corrupt_header_is_an_error(tmp_path: Path) -> None:
    data = bytearray(_tar([_file("f", b"abc")], tarfile.USTAR_FORMAT))
    data[148:156] = b"0000000\x00"  # wrong checksum
    with pytest.raises(TarStreamError, match="bad tar header"):
        _members(bytes(data), tmp_path)


def test_sparse_members_are_refused_with_a_reason(tmp_path: Path) -> None:
    info, data = _file("holes", b"abc")
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}
    with pytest.raises(TarStreamError, match="sparse"):
        _members(_tar([(info, data)], tarfile.PAX_FORMAT), tmp_path)


def test_producer_errors_reach_the_consumer(tmp_path: Path) -> None:
    def failing_read(_: int) -> bytes:
        raise OSError("disk on fire")

    source = ReadAhead(failing_read)
    try:
        with pytest.raises(OSError, match="disk on fire"):
            list(TarStream(source).members())
    finally:
        source.close()


def test_close_stops_a_producer_that_is_ahead() -> None:
    source = ReadAhead(io.BytesIO(b"\x01" * (40 << 20)).read)
    source.next_block()
    source.close()  # returns although 30+ MiB were never consumed


def test_an_empty_stream_ends_and_drains() -> None:
    source = ReadAhead(io.BytesIO(b"").read)
    try:
        assert list(TarStream(source).members()) == []
        source.drain()  # returns: the end was already seen
        assert source.next_block() == b""
    finally:
        source.close()


def test_oversized_extended_headers_are_refused(tmp_path: Path) -> None:
    info, data = _file("f", b"x")
    info.pax_headers = {"comment": "y" * (2 << 20)}
    with pytest.raises(TarStreamError, match="extended header"):
        _members(_tar([(info, data)], tarfile.PAX_FORMAT), tmp_path)


def test_negative_sizes_are_refused(tmp_path: Path) -> None:
    info, data = _file("f", b"")
    info.pax_headers = {"size": "-5"}
    with pytest.raises(TarStreamError, match="negative size"):
        _members(_tar([(info, data)], tarfile.PAX_FORMAT), tmp_path)
