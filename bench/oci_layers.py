"""Layer write / apply / push speed: dockyard.oci against the real tools, one run, ratios.

    .venv/bin/python bench/oci_layers.py [SOURCE_DIR]   (default /usr/lib/python3: real files)

* write: `LayerWriter` (tar -> gzip -> two sha256 in one pass) vs `tar -cf - | gzip -1 | sha256sum`
  (GNU tar + gzip, the layer digest alone; ours also computes the diff_id);
* apply: `apply_layer` (safe, resolving every path in the root) vs `tar -xzf` (trusting);
* push: `RegistryClient.push` vs `skopeo copy oci:... docker://...` into the same fresh
  docker-registry (different repositories, so neither finds the other's blobs).

Peak RSS of this process is printed to show that memory stays flat while streaming.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dockyard.oci import (  # noqa: E402
    BlobCache,
    Image,
    ImageConfig,
    ImageLayout,
    Logins,
    RegistryClient,
    RegistryOptions,
    apply_layer,
    write_layer_from_dir,
)


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def shell(command: str) -> None:
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, capture_output=True)


def ratio_line(what: str, ours: float, peer: float, peer_name: str) -> None:
    print(f"{what:6} dockyard {ours:7.2f}s   {peer_name} {peer:7.2f}s   ratio {ours / peer:5.2f}x")


def main() -> int:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/lib/python3")
    size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"source {source}: {size / 1e6:.0f} MB")
    with tempfile.TemporaryDirectory(prefix="bench-oci-") as tmp_text:
        tmp = Path(tmp_text)
        layer = tmp / "layer.tgz"
        info = None

        def ours_write() -> None:
            nonlocal info
            info = write_layer_from_dir(layer, source, "gzip", mtime=0)

        t_ours = timed(ours_write)
        t_peer = timed(
            lambda: shell(f"tar -C {source} -cf - . | gzip -1 | tee {tmp}/peer.tgz | sha256sum")
        )
        assert info is not None
        ratio_line("write", t_ours, t_peer, "tar|gzip -1|sha256sum")
        print(
            f"       sizes: dockyard {info.size / 1e6:.1f} MB,"
            f" gzip -1 {(tmp / 'peer.tgz').stat().st_size / 1e6:.1f} MB"
        )

        (tmp / "a").mkdir()
        (tmp / "b").mkdir()
        t_ours = timed(lambda: apply_layer(layer, tmp / "a"))
        t_peer = timed(lambda: shell(f"tar -C {tmp}/b -xzf {layer}"))
        ratio_line("apply", t_ours, t_peer, "tar -xzf")

        registry_bin = shutil.which("docker-registry")
        skopeo = shutil.which("skopeo")
        if registry_bin and skopeo:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
            from tests.oci.peers import start_registry

            registry = start_registry(tmp / "registry")
            try:
                config = ImageConfig(architecture="amd64", os="linux")
                image = Image.assemble(config, [info])
                ImageLayout(tmp / "layout").write_image(image, "1")
                with RegistryClient(RegistryOptions(), Logins()) as client:
                    t_ours = timed(lambda: client.push(image, [f"{registry.host}/bench/ours:1"]))
                t_peer = timed(
                    lambda: shell(
                        f"{skopeo} copy --dest-tls-verify=false oci:{tmp}/layout:1 docker://{registry.host}/bench/skopeo:1"
                    )
                )
                ratio_line("push", t_ours, t_peer, "skopeo copy")
                with RegistryClient(RegistryOptions(), Logins()) as client:
                    t_ours = timed(
                        lambda: client.pull(
                            f"{registry.host}/bench/ours:1", BlobCache(tmp / "cache")
                        )
                    )
                t_peer = timed(
                    lambda: shell(
                        f"{skopeo} copy --src-tls-verify=false"
                        f" docker://{registry.host}/bench/skopeo:1 oci:{tmp}/pulled:1"
                    )
                )
                ratio_line("pull", t_ours, t_peer, "skopeo copy")
            finally:
                registry.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the benchmark process: {peak:.0f} MB (for a {size / 1e6:.0f} MB tree)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
