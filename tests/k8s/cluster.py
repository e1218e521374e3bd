"""A real single-node Kubernetes for the tests: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, containerd and a kubelet, each a process of this session with its own state,
configuration and sockets under the slot's directory (tests/k8s/host.py).

The settings this kind of VM needs (shared/research/k8s-fixture.md): containerd's
`restrict_oom_score_adj` (root lacks CAP_SYS_RESOURCE), the kubelet named 127.0.0.1 with the
cgroupfs driver and cgroup v1 allowed, the API server's endpoint reconciler off (its Service
cannot point at loopback), and a pod network on a bridge of our own inside 127.100.0.0/16 with
route_localnet, so pods reach a server listening on the bridge's (gateway) address.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port
from tests.k8s import pki
from tests.k8s.build import KUBERNETES_VERSION, PAUSE_IMAGE, binaries_dir
from tests.k8s.host import (
    ProcessRecord,
    Slot,
    clean_slot,
    create_bridge,
    create_cgroup_root,
    forward_service,
)

SERVICE_RANGE = "10.96.0.0/16"
SERVICE_ADDRESS = "10.96.0.1"  # the `kubernetes` Service's ClusterIP
CNI_BIN = Path("/usr/lib/cni")
_STOP_ORDER = ["kubelet", "containerd", "kube-scheduler", "kube-controller-manager",
               "kube-apiserver", "etcd"]
_STUCK = {"ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "CreateContainerConfigError",
          "CreateContainerError", "InvalidImageName", "RunContainerError"}
# pull errors the kubelet retries (after 10 s, then longer): other pull errors are waited for
_PULLING = {"ErrImagePull", "ImagePullBackOff"}
_REFUSED_PULL = re.compile(r"\b(401|403|404)\b|unauthorized|denied|not found", re.IGNORECASE)
_PULL_RETRY = 15.0
_CONTROLLERS = "*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller"


@dataclass
class Cluster:
    """A running cluster; `kubeconfig` is the admin's, `user_kubeconfig` a user with no rights."""

    slot: Slot
    binaries: Path
    kubeconfig: Path = field(init=False)
    user_kubeconfig: Path = field(init=False)
    api_url: str = field(init=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        """The host's address as pods see it: a server for pods listens here (never 0.0.0.0)."""
        return self.slot.gateway

    @property
    def state(self) -> Path:
        return self.slot.state

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def certs_d(self) -> Path:
        return self.state / "certs.d"

    def kubectl(self, *args: str, kubeconfig: Path | None = None, input: str | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`kubectl` as the admin (or as `kubeconfig`'s user); never raises on its exit code."""
        return subprocess.run(
            [str(self.binaries / "kubectl"), "--kubeconfig", str(kubeconfig or self.kubeconfig),
             *args], capture_output=True, text=True, input=input, timeout=timeout)

    def trust_registry(self, host_port: str) -> None:
        """Let containerd pull from a plain-HTTP registry (a Dockyard server) at `host_port`."""
        directory = self.certs_d / host_port
        directory.mkdir(parents=True, exist_ok=True)
        url = f"http://{host_port}"
        (directory / "hosts.toml").write_text(
            f'server = "{url}"\n\n[host."{url}"]\n  capabilities = ["pull", "resolve"]\n')

    def apply(self, manifest: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
        """`kubectl apply -f -` of one object (JSON), with extra arguments (`-n NS`, dry-run)."""
        return self.kubectl("apply", "-f", "-", *args, input=json.dumps(manifest))

    def wait_pod(self, namespace: str, name: str, phase: str = "Succeeded",
                 timeout: float = 90) -> dict[str, Any]:
        """The pod once in `phase` ("Running" means all containers ready too); fails, with
        `kubectl describe`, when it ends in another phase, cannot start, or the registry keeps
        refusing its image (401/403/404) past the kubelet's first retry: a fresh pod's pull
        secret may be unreadable to the kubelet for a moment (the Node authorizer learns of it
        after the pod is bound), so one refused pull is not yet an answer."""
        deadline = time.monotonic() + timeout
        refused_since: float | None = None
        problem = "timed out"
        while time.monotonic() < deadline:
            got = self.kubectl("get", "pod", "-n", namespace, name, "-o", "json")
            pod: dict[str, Any] = json.loads(got.stdout) if got.returncode == 0 else {}
            status = pod.get("status", {})
            current = status.get("phase")
            ready = all(c.get("ready") for c in status.get("containerStatuses", [{}]))
            if current == phase and (phase != "Running" or ready):
                return pod
            if current in ("Succeeded", "Failed") and current != phase:
                problem = f"ended {current}"
                break
            waiting = [c["state"]["waiting"] for c in status.get("containerStatuses", [])
                       if "waiting" in c.get("state", {})]
            stuck = [w for w in waiting if w.get("reason") in _STUCK - _PULLING]
            refused = [w for w in waiting if w.get("reason") in _PULLING
                       and _REFUSED_PULL.search(w.get("message", ""))]
            refused_since = (refused_since or time.monotonic()) if refused else None
            if refused_since is not None and time.monotonic() - refused_since > _PULL_RETRY:
                stuck = refused
            if stuck:
                problem = f"stuck: {stuck}"
                break
            time.sleep(0.2)
        describe = self.kubectl("describe", "pod", "-n", namespace, name)
        raise AssertionError(f"pod {namespace}/{name} not {phase}: {problem}\n{describe.stdout}"
                             f"{describe.stderr}")

    def persistent_volume(self, name: str, size: str = "1Gi") -> Path:
        """A PersistentVolume `name` of the default StorageClass `standard`, backed by a host
        directory (returned) in the slot's state: the cluster has no dynamic provisioner, so a
        PersistentVolumeClaim (or a StatefulSet's claim template) binds to one made here."""
        storage_class = {
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "standard", "annotations": {
                "storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate"}
        directory = self.state / "volumes" / name
        directory.mkdir(parents=True)
        directory.chmod(0o777)  # pods run as any user (restricted pods as non-root)
        volume = {
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": "standard", "persistentVolumeReclaimPolicy": "Retain",
                     "hostPath": {"path": str(directory), "type": "Directory"}}}
        for manifest in (storage_class, volume):
            applied = self.apply(manifest)
            if applied.returncode != 0:
                raise RuntimeError(f"kubectl apply {manifest['kind']}: {applied.stderr}")
        return directory

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # --- start ----------------------------------------------------------------------------

    def start(self) -> None:
        """Bring every component up and wait for the node to be Ready (~5 s)."""
        state = self.state
        state.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir()
        create_bridge(self.slot)
        create_cgroup_root(self.slot)
        api_port = free_port(self.gateway)
        self.api_url = f"https://{self.gateway}:{api_port}"
        credentials = pki.make_credentials(state / "pki", ["127.0.0.1", self.gateway,
                                                           SERVICE_ADDRESS], self.api_url)
        self.kubeconfig = credentials.kubeconfig("admin")
        self.user_kubeconfig = credentials.kubeconfig(pki.UNPRIVILEGED_USER)
        etcd_url = self._start_etcd()
        self._start_containerd()
        self._start_apiserver(credentials, etcd_url, api_port)
        self._import_pause()
        self._wait_api(credentials)
        forward_service(self.slot, SERVICE_ADDRESS, 443, f"{self.gateway}:{api_port}")
        self._start_controller_manager(credentials)
        self._start_scheduler(credentials)
        self._start_kubelet(credentials)
        self._wait_node_ready(credentials)

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        log.close()
        self.processes[name] = process
        ProcessRecord(self.state).add(name, process.pid)

    def _check_running(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with status {process.returncode}:\n"
                                   f"{self.log_tail(name)}")

    def _start_etcd(self) -> str:
        client, peer = free_port(), free_port()
        client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        self._spawn("etcd", [
            "etcd", "--name", "test", "--data-dir", str(self.state / "etcd"),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"test={peer_url}", "--log-level", "warn",
        ])
        return client_url

    def _start_containerd(self) -> None:
        root = self.state / "containerd"
        cni = self.state / "cni"
        (cni / "net.d").mkdir(parents=True)
        self.certs_d.mkdir()
        conflist = {
            "cniVersion": "0.4.0", "name": f"dockyard-test-{self.slot.number}",
            "plugins": [
                {"type": "bridge", "bridge": self.slot.bridge, "isGateway": True, "ipMasq": False,
                 "ipam": {"type": "host-local", "dataDir": str(cni / "ipam"),
                          "ranges": [[{"subnet": self.slot.subnet, "gateway": self.gateway}]],
                          # Services: only the `kubernetes` one, forwarded by host.forward_service
                          "routes": [{"dst": SERVICE_RANGE}]}},
                {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.route_localnet": "1"}},
            ],
        }
        (cni / "net.d" / "10-dockyard.conflist").write_text(json.dumps(conflist, indent=1))
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = f"""version = 2
root = "{root / 'root'}"
state = "{root / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{self.slot.containerd_socket}"

[ttrpc]
  address = "{self.slot.containerd_socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{root / 'opt'}"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{cni / 'net.d'}"

[{cri}.registry]
  config_path = "{self.certs_d}"
"""
        (root).mkdir()
        (root / "config.toml").write_text(config)
        self._spawn("containerd", ["containerd", "--config", str(root / "config.toml")])

    def _wait_for(self, what: str, ready: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_running()
            with contextlib.suppress(OSError, httpx.HTTPError, subprocess.SubprocessError):
                if ready():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{what} not ready after {timeout:.0f} s; logs in {self.logs}")

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ctr", "--address", str(self.slot.containerd_socket), "-n", "k8s.io",
                               *args], capture_output=True, text=True, timeout=120)

    def _import_pause(self) -> None:
        from tests.k8s.build import ensure_pause_archive

        archive = ensure_pause_archive()
        self._wait_for("containerd", lambda: self._ctr("version").returncode == 0)
        result = self._ctr("images", "import", str(archive))
        if result.returncode != 0 or PAUSE_IMAGE not in self._ctr("images", "ls", "-q").stdout:
            raise RuntimeError(f"ctr images import {archive} did not give {PAUSE_IMAGE}:"
                               f" {result.stdout}{result.stderr}")

    def _start_apiserver(self, credentials: pki.Credentials, etcd_url: str, port: int) -> None:
        f = credentials.file
        self._spawn("kube-apiserver", [
            str(self.binaries / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            f"--bind-address={self.gateway}", f"--secure-port={port}",
            f"--advertise-address={self.gateway}",
            f"--cert-dir={self.state / 'apiserver-certs'}",
            f"--tls-cert-file={f('apiserver.crt')}", f"--tls-private-key-file={f('apiserver.key')}",
            f"--client-ca-file={credentials.ca_cert}",
            f"--token-auth-file={f('tokens.csv')}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction,PodSecurity,ValidatingAdmissionPolicy",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            f"--service-account-key-file={f('service-account.pub')}",
            f"--service-account-signing-key-file={f('service-account.key')}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--kubelet-client-certificate={f('apiserver-kubelet-client.crt')}",
            f"--kubelet-client-key={f('apiserver-kubelet-client.key')}",
            f"--kubelet-certificate-authority={credentials.ca_cert}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            "--profiling=false",
        ])

    def _api_client(self, credentials: pki.Credentials) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(credentials.ca_cert))
        return httpx.Client(base_url=self.api_url, verify=context, timeout=5,
                            headers={"Authorization": f"Bearer {credentials.tokens['admin']}"})

    def _wait_api(self, credentials: pki.Credentials) -> None:
        with self._api_client(credentials) as client:
            self._wait_for("kube-apiserver", lambda: client.get("/readyz").status_code == 200)

    def _start_controller_manager(self, credentials: pki.Credentials) -> None:
        f = credentials.file
        self._spawn("kube-controller-manager", [
            str(self.binaries / "kube-controller-manager"),
            f"--kubeconfig={credentials.kubeconfig('system:kube-controller-manager')}",
            "--leader-elect=false", f"--controllers={_CONTROLLERS}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            f"--cert-dir={self.state / 'controller-manager-certs'}",
            f"--service-account-private-key-file={f('service-account.key')}",
            f"--root-ca-file={credentials.ca_cert}",
            f"--cluster-signing-cert-file={credentials.ca_cert}",
            f"--cluster-signing-key-file={f('ca.key')}",
            "--use-service-account-credentials=true",
            "--profiling=false",
        ])

    def _start_scheduler(self, credentials: pki.Credentials) -> None:
        config = self.state / "scheduler.json"
        config.write_text(json.dumps({
            "apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"kubeconfig": str(credentials.kubeconfig("system:kube-scheduler"))},
            "leaderElection": {"leaderElect": False},
        }))
        self._spawn("kube-scheduler", [
            str(self.binaries / "kube-scheduler"), f"--config={config}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            f"--cert-dir={self.state / 'scheduler-certs'}",
        ])

    def _start_kubelet(self, credentials: pki.Credentials) -> None:
        f = credentials.file
        socket_url = f"unix://{self.slot.containerd_socket}"
        config = self.state / "kubelet.json"
        config.write_text(json.dumps({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": "127.0.0.1", "port": free_port(), "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": free_port(),
            "tlsCertFile": str(f("kubelet.crt")), "tlsPrivateKeyFile": str(f("kubelet.key")),
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(credentials.ca_cert)}},
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs", "failCgroupV1": False,
            "cgroupRoot": f"/{self.slot.cgroup_root}",
            "containerRuntimeEndpoint": socket_url, "imageServiceEndpoint": socket_url,
            "podLogsDir": str(self.state / "pod-logs"),
            "failSwapOn": False, "serializeImagePulls": False,
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%",
                             "imagefs.available": "2%", "nodefs.inodesFree": "2%"},
            "resolvConf": "/etc/resolv.conf",
        }))
        self._spawn("kubelet", [
            str(self.binaries / "kubelet"), f"--config={config}",
            f"--kubeconfig={credentials.kubeconfig(f'system:node:{pki.NODE_NAME}')}",
            f"--hostname-override={pki.NODE_NAME}",
            f"--root-dir={self.state / 'kubelet'}",
            f"--cert-dir={self.state / 'kubelet-certs'}",
        ])

    def _wait_node_ready(self, credentials: pki.Credentials) -> None:
        def ready() -> bool:
            node = client.get(f"/api/v1/nodes/{pki.NODE_NAME}").json()
            if node.get("kind") != "Node" or node["spec"].get("taints"):
                return False  # the node controller lifts `not-ready` a moment after Ready
            return any(c["type"] == "Ready" and c["status"] == "True"
                       for c in node.get("status", {}).get("conditions", []))

        with self._api_client(credentials) as client:
            self._wait_for("the node", ready, timeout=90)

    # --- stop -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop everything by PID, unmount, delete the bridge and cgroups; keep the logs."""
        try:
            clean_slot(self.slot, _STOP_ORDER, keep=("logs",))
            for process in self.processes.values():
                process.poll()
        finally:
            self.slot.release()


def running_cluster(slot: Slot, binaries: Path) -> Cluster:
    """A started cluster on `slot`; on any failure everything started is stopped again."""
    cluster = Cluster(slot, binaries)
    try:
        cluster.start()
    except BaseException:
        with contextlib.suppress(Exception):
            cluster.stop()
        raise
    return cluster


def environment_problems() -> list[str]:
    """What this machine lacks to run the cluster (empty when it can)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("root (the kubelet, containerd and the pod network need it)")
    for tool, package in (("containerd", "containerd"), ("ctr", "containerd"), ("runc", "runc"),
                          ("etcd", "etcd-server"), ("ip", "iproute2"), ("iptables", "iptables"),
                          ("openssl", "openssl")):
        if shutil.which(tool) is None:
            problems.append(f"{tool} (apt-get install {package})")
    if shutil.which("go") is None and not binaries_dir().exists():
        problems.append(f"Go, to build Kubernetes {KUBERNETES_VERSION} into {binaries_dir()}")
    for plugin in ("bridge", "host-local", "tuning", "loopback"):
        if not (CNI_BIN / plugin).exists():
            problems.append(f"the {plugin} CNI plugin in {CNI_BIN} (apt-get install"
                            " containernetworking-plugins)")
            break
    if not Path("/sys/fs/cgroup").is_dir():
        problems.append("cgroups mounted at /sys/fs/cgroup")
    return problems
