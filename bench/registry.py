"""Push and pull a >= 500 MB multi-layer image with skopeo into Dockyard and into CNCF distribution.

Both servers run in the same process tree and the same run, alternating, so machine drift hits
both alike. Prints per-direction throughput (MB/s, median of the rounds), the ratio
Dockyard/distribution (>1 means Dockyard is faster) and the idle RSS of both servers.

Every round starts both servers afresh on empty storage (a new data dir, a new S3 bucket): were
a round to push into a server that already holds the blobs, skopeo would find them (HEAD) or mount
them from the earlier repository (its blob info cache remembers where it pushed them; skopeo 1.9
has no switch to turn that cache off) and the push figure would measure mounts. After each push
the bench checks that the target's storage grew by the image's size, i.e. the bytes were uploaded.

    .venv/bin/python bench/registry.py [--size-mb 520] [--layers 5] [--rounds 3] [--storage s3]

`--storage s3` runs Dockyard on S3 storage: a local versitygw (tests/s3server.py) on loopback.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.images import make_layout  # noqa: E402
from tests.processes import stop_process  # noqa: E402
from tests.s3server import S3Server, start_s3_server  # noqa: E402

from bench.peers import Peer, start_distribution, start_dockyard  # noqa: E402


class PeakRSS:
    """Samples each server's RSS while the copies run, so a streaming leak would show."""

    def __init__(self, peers: list[Peer]) -> None:
        self.peers = peers
        self.peak = {p.name: 0 for p in peers}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for peer in self.peers:
                self.peak[peer.name] = max(self.peak[peer.name], peer.rss_kib())

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def skopeo_copy(src: str, dest: str, *flags: str) -> float:
    started = time.perf_counter()
    subprocess.run(["skopeo", "copy", "--quiet", *flags, src, dest], check=True)
    return time.perf_counter() - started


def stored_bytes(root: Path) -> int:
    """Bytes below `root` (a server's data dir): what a real upload must have added."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def start_peers(workdir: Path, s3: S3Server | None) -> list[Peer]:
    """Both servers on empty storage in `workdir`."""
    workdir.mkdir()
    if s3 is not None:
        peers = [start_dockyard(workdir, storage=s3.fresh_url(), env=s3.environ())]
    else:
        peers = [start_dockyard(workdir)]
    peers.append(start_distribution(workdir))
    return peers


def storage_root(peer: Peer, workdir: Path, s3_root: Path | None) -> Path:
    """Where `peer` keeps blobs: its data dir, or the local S3 server's files."""
    if peer.name == "distribution":
        return workdir / "distribution-data"
    return s3_root if s3_root is not None else workdir / "dockyard-data"


def creds_flags(peer: Peer, side: str) -> list[str]:
    flags = [f"--{side}-tls-verify=false"]
    flags += [f"--{side}-creds", peer.creds] if peer.creds else [f"--{side}-no-creds"]
    return flags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=520)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--storage", choices=["file", "s3"], default="file",
                        help="Dockyard's blob storage: the data directory, or a local S3 server")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-registry-"))
    peers: list[Peer] = []
    s3: S3Server | None = None
    try:
        per_layer = args.size_mb * 1024 * 1024 // args.layers
        print(f"building a {args.size_mb} MB image of {args.layers} layers ...", flush=True)
        layout = make_layout(work / "image", tag="bench", random_layer_sizes=[per_layer] * args.layers)
        total = sum(p.stat().st_size for p in (layout.path / "blobs" / "sha256").iterdir())
        if args.storage == "s3":
            s3 = start_s3_server(work / "s3")
        push: dict[str, list[float]] = {"dockyard": [], "distribution": []}
        pull: dict[str, list[float]] = {"dockyard": [], "distribution": []}
        idle: dict[str, int] = {}
        peak: dict[str, int] = {"dockyard": 0, "distribution": 0}
        after: dict[str, int] = {}
        for round_no in range(args.rounds):
            round_dir = work / f"round{round_no}"
            peers = start_peers(round_dir, s3)
            if round_no == 0:
                time.sleep(2)
                idle = {peer.name: peer.rss_kib() for peer in peers}
            with PeakRSS(peers) as sampler:
                for peer in peers:
                    ref = f"docker://{peer.host_port}/bench/image:v1"
                    root = storage_root(peer, round_dir, work / "s3" if s3 else None)
                    before = stored_bytes(root)
                    push[peer.name].append(skopeo_copy(layout.ref, ref, *creds_flags(peer, "dest")))
                    if stored_bytes(root) - before < total:
                        raise SystemExit(f"{peer.name}: the push stored less than the image's"
                                         f" {total} bytes: blobs were not uploaded")
                    out = round_dir / f"pull-{peer.name}"
                    pull[peer.name].append(skopeo_copy(ref, f"oci:{out}:v1", *creds_flags(peer, "src")))
                    shutil.rmtree(out)
            for name, kib in sampler.peak.items():
                peak[name] = max(peak[name], kib)
            after = {peer.name: peer.rss_kib() for peer in peers}
            for peer in peers:
                peer.stop()
            peers = []
            shutil.rmtree(round_dir, ignore_errors=True)
        mb = total / 1e6
        print(f"\nimage: {mb:.0f} MB in {args.layers} layers; {args.rounds} rounds, each into fresh"
              f" servers on empty storage; skopeo copy, loopback; dockyard on {args.storage} storage\n")
        print(f"{'direction':<10}{'dockyard MB/s':>16}{'distribution MB/s':>20}{'ratio':>8}")
        for label, figures in (("push", push), ("pull", pull)):
            dy = mb / statistics.median(figures["dockyard"])
            ds = mb / statistics.median(figures["distribution"])
            print(f"{label:<10}{dy:>16.1f}{ds:>20.1f}{dy / ds:>8.2f}")
        for label, figures_kib in (
            ("idle RSS", idle),
            ("peak RSS during copies", peak),
            ("RSS after", after),
        ):
            dy_mb, ds_mb = figures_kib["dockyard"] / 1024, figures_kib["distribution"] / 1024
            print(f"{label}: dockyard {dy_mb:.1f} MB, distribution {ds_mb:.1f} MB")
    finally:
        for peer in peers:
            peer.stop()
        if s3 is not None:
            stop_process(s3.process)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
