"""A push killed mid-way leaves git's object quarantine behind; the next start removes it
(issue 10, reproduction 12)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import start_server
from tests.git.conftest import Git, create_repo, create_user, repo_url


def test_quarantine_directories_removed_at_start(tmp_path: Path, git: Git) -> None:
    server = start_server(tmp_path / "data")
    try:
        user = create_user(server, "q")
        repo = create_repo(server, user)
        work = tmp_path / "work"
        git.run("clone", "-q", repo_url(server, repo["full_name"], user.username, user.password), str(work))
    finally:
        server.stop()
    port = int(server.host_port.rsplit(":", 1)[1])
    objects = next((tmp_path / "data" / "git").glob("*/*.git")) / "objects"
    # what `git receive-pack` leaves when the process dies between unpacking and migrating objects
    left = objects / "tmp_objdir-incoming-Ab12Cd"
    (left / "pack").mkdir(parents=True)
    (left / "pack" / "tmp_pack_x").write_bytes(b"PACK" + b"\0" * 100)
    kept = sorted(p.name for p in objects.iterdir())
    server = start_server(tmp_path / "data", port)
    try:
        assert not left.exists()
        assert sorted(p.name for p in objects.iterdir()) == [n for n in kept if n != left.name]
        git.run("-C", str(work), "pull", "-q")  # the repository still serves
    finally:
        server.stop()
