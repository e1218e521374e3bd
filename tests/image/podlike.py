"""Run an unpacked image under runc the way a Kubernetes pod's container runs: containerd's
default capabilities (no CAP_SYS_ADMIN), no user namespace, masked and read-only /proc paths,
and a seccomp profile that refuses new namespaces and mounts as RuntimeDefault does for a
container without CAP_SYS_ADMIN. The host's network namespace is kept so that the container
reaches the test's Dockyard on loopback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

# containerd's (and Docker's) default capability set for a container
POD_CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]
CLONE_NAMESPACE_FLAGS = (0x00020000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
                         0x02000000)  # NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWCGROUP
EPERM, ENOSYS = 1, 38


def seccomp_profile() -> dict[str, object]:
    """Default allow; namespaces and mounts refused (what RuntimeDefault gives a container
    that lacks CAP_SYS_ADMIN); clone3 ENOSYS so that libc falls back to clone."""
    refuse = ["unshare", "setns", "mount", "umount2", "pivot_root", "open_tree", "move_mount",
              "fsopen", "fsconfig", "fsmount", "mount_setattr"]
    rules: list[dict[str, object]] = [
        {"names": refuse, "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
    ]
    for flag in CLONE_NAMESPACE_FLAGS:
        rules.append({"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM,
                      "args": [{"index": 0, "value": flag, "valueTwo": flag,
                                "op": "SCMP_CMP_MASKED_EQ"}]})
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": rules}


def pod_config(bundle: Path, args: list[str], *, env: list[str] | None = None,
               binds: dict[str, tuple[Path, bool]] | None = None, uid: int = 0,
               cwd: str = "/workspace") -> None:
    """Rewrites umoci's config.json: `args` as the process, `binds` {target: (source, rw)}."""
    path = bundle / "config.json"
    config = json.loads(path.read_text())
    process = config["process"]
    process["args"] = args
    process["terminal"] = False
    process["cwd"] = cwd
    process["user"] = {"uid": uid, "gid": uid}
    if env is not None:
        process["env"] = env
    process["capabilities"] = {k: list(POD_CAPABILITIES)
                               for k in ("bounding", "effective", "permitted")}
    process.pop("noNewPrivileges", None)
    linux = config["linux"]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"]
    linux["seccomp"] = seccomp_profile()
    linux["resources"] = {"devices": [{"allow": False, "access": "rwm"},
                                      {"allow": True, "type": "c", "access": "m"},
                                      {"allow": True, "type": "b", "access": "m"}]}
    for target, (source, rw) in (binds or {}).items():
        config["mounts"].append({"destination": target, "type": "bind", "source": str(source),
                                 "options": ["rbind", "rw" if rw else "ro"]})
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                             "options": ["nosuid", "nodev", "mode=1777"]})
    path.write_text(json.dumps(config, indent=1))


def run_pod(bundle: Path, name: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`runc run` of the bundle (its own state dir next to it), output captured."""
    state = bundle.parent / "runc-state"
    state.mkdir(exist_ok=True)
    try:
        return subprocess.run(["runc", "--root", str(state), "run", "--bundle", str(bundle), name],
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    finally:
        subprocess.run(["runc", "--root", str(state), "delete", "--force", name],
                       capture_output=True)
