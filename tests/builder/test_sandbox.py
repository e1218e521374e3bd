"""The RUN sandbox: namespaces, pivot into the rootfs, overlay upper as the layer diff."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from dockyard.builder.layer_writer import write_layer
from dockyard.builder.snapshot import (
    TreeState,
    merge_upper,
    prune_copied_up_dirs,
    remove_placeholders,
    tree_diff_entries,
    upper_entries,
)
from dockyard.sandbox import RunFailed, RunRequest, SandboxMount, run_in_sandbox

pytestmark = pytest.mark.usefixtures("needs_namespaces")


def run(rootfs: Path, upper: Path | None, script: str, **kw: object) -> str:
    if upper is not None:
        upper.mkdir(exist_ok=True)
    out = bytearray()
    result = run_in_sandbox(
        RunRequest(
            argv=["/bin/sh", "-c", script], rootfs=rootfs, upper=upper, env={"PATH": "/bin"}, **kw
        ),  # type: ignore[arg-type]
        output=out.extend,
    )
    if upper is not None:
        remove_placeholders(upper, result.created)
        prune_copied_up_dirs(upper, rootfs)
    return out.decode()


def layer_names(upper: Path, tmp: Path) -> dict[str, tarfile.TarInfo]:
    blob = write_layer(upper_entries(upper), tmp / "layer.tgz")
    with tarfile.open(blob.path) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_run_sees_only_its_rootfs_and_own_pid_namespace(
    busybox_rootfs: Path, tmp_path: Path
) -> None:
    text = run(
        busybox_rootfs,
        tmp_path / "upper",
        "echo pid=$$; hostname; ls /; cat /etc/hosts | grep -c localhost; ls /dev",
    )
    assert "pid=2" in text  # PID 1 is the sandbox init, the shell is its first child
    assert "work" not in text.split()  # the host's /work is not visible
    for dev in ("null", "zero", "random", "urandom", "tty", "full", "shm"):
        assert dev in text.split()


def test_upper_is_the_layer_with_whiteouts_and_opaque_dirs(
    busybox_rootfs: Path, tmp_path: Path
) -> None:
    (busybox_rootfs / "gone").write_text("x")
    (busybox_rootfs / "replaced").mkdir()
    (busybox_rootfs / "replaced" / "old").write_text("x")
    upper = tmp_path / "upper"
    run(
        busybox_rootfs,
        upper,
        "echo hi > /new; rm /gone; rm -rf /replaced; mkdir /replaced; echo n > /replaced/f",
    )
    names = layer_names(upper, tmp_path)
    assert set(names) == {"new", ".wh.gone", "replaced", "replaced/.wh..wh..opq", "replaced/f"}
    assert not any(n.startswith(("proc", "dev", "etc")) for n in names)  # mount points pruned
    merge_upper(upper, busybox_rootfs)
    assert (busybox_rootfs / "new").read_text() == "hi\n"
    assert not (busybox_rootfs / "gone").exists()
    assert sorted(p.name for p in (busybox_rootfs / "replaced").iterdir()) == ["f"]


def test_rm_rf_root_damages_nothing_outside(busybox_rootfs: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t")
    run(
        busybox_rootfs,
        tmp_path / "upper",
        "rm -rf / 2>/dev/null; true",
        mounts=[SandboxMount("bind", "/run/secrets/token", secret, readonly=True)],
    )
    assert outside.read_text() == "keep"
    assert secret.read_text() == "s3cr3t"
    assert (busybox_rootfs / "bin" / "busybox").exists()  # the lower layer is untouched


def test_secret_mount_is_readable_but_not_in_the_layer(
    busybox_rootfs: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t")
    upper = tmp_path / "upper"
    text = run(
        busybox_rootfs,
        upper,
        "cat /run/secrets/token; echo done > /done",
        mounts=[SandboxMount("bind", "/run/secrets/token", secret, readonly=True)],
    )
    assert "s3cr3t" in text
    names = layer_names(upper, tmp_path)
    assert set(names) == {"done"}


def test_failing_run_reports_code_command_and_tail(busybox_rootfs: Path, tmp_path: Path) -> None:
    with pytest.raises(RunFailed) as info:
        run(busybox_rootfs, tmp_path / "upper", "echo about to fail; exit 3")
    assert info.value.exit_code == 3
    assert "about to fail" in str(info.value) and "exit 3" in str(info.value)


def test_timeout_kills_the_step(busybox_rootfs: Path, tmp_path: Path) -> None:
    with pytest.raises(RunFailed) as info:
        run(busybox_rootfs, tmp_path / "upper", "sleep 30", timeout=1.0)
    assert info.value.timed_out


def test_user_and_workdir(busybox_rootfs: Path, tmp_path: Path) -> None:
    text = run(
        busybox_rootfs, tmp_path / "upper", "id -u; id -g; pwd", uid=1000, gid=1000, cwd="/home/app"
    )
    assert text.split() == ["1000", "1000", "/home/app"]


def test_network_none_has_no_interfaces_but_loopback(busybox_rootfs: Path, tmp_path: Path) -> None:
    text = run(busybox_rootfs, tmp_path / "upper", "cat /proc/net/dev", network="none")
    interfaces = {line.split(":")[0].strip() for line in text.splitlines()[2:]}
    assert interfaces == {"lo"}


def test_tree_diff_fallback(busybox_rootfs: Path, tmp_path: Path) -> None:
    (busybox_rootfs / "gone").mkdir()
    (busybox_rootfs / "gone" / "a").write_text("x")
    (busybox_rootfs / "same-size").write_text("aaaa")
    before = TreeState(busybox_rootfs)
    run(busybox_rootfs, None, "rm -rf /gone; echo new > /new; printf bbbb > /same-size")
    entries = tree_diff_entries(before, TreeState(busybox_rootfs))
    kinds = {(e.name, e.kind) for e in entries}
    assert ("gone", "whiteout") in kinds and ("new", "path") in kinds
    assert ("same-size", "path") in kinds
    assert ("gone/a", "whiteout") not in kinds


def test_device_nodes_and_mounts_are_denied(busybox_rootfs: Path, tmp_path: Path) -> None:
    text = run(
        busybox_rootfs,
        tmp_path / "upper",
        "mknod /sda b 8 0 2>&1 || echo mknod-denied;"
        " mount -t tmpfs x /tmp 2>&1 || echo mount-denied",
    )
    assert "mknod-denied" in text and "mount-denied" in text


def test_kernel_knobs_are_read_only(busybox_rootfs: Path, tmp_path: Path) -> None:
    text = run(
        busybox_rootfs,
        tmp_path / "upper",
        "echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || echo sys-denied;"
        " wc -c < /proc/timer_list",  # masked (kcore/sysrq-trigger may not exist here)
    )
    assert "sys-denied" in text
    assert text.split()[-1] == "0"
