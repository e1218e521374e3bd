"""patch_images on a working tree: exact text edits, kustomize images, errors that name the fix."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from dockyard.gitops import (
    GitOpsError,
    ImageNotFound,
    ImageReferenceError,
    parse_image_arg,
    parse_reference,
    patch_images,
)
from dockyard.gitops.references import normalize_name
from tests.gitops.conftest import API, DEPLOY_FILES, KUSTOMIZATION

DIGEST = "sha256:" + "ab" * 32


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    return root


def images(*args: str) -> dict:
    return dict(parse_image_arg(a) for a in args)


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_only_the_image_values_change_and_comments_stay(tmp_path: Path) -> None:
    repo = write_tree(tmp_path, DEPLOY_FILES)
    result = patch_images(repo, "k8s", images(f"{API}={API}:1a2b3c4"))
    after = (repo / "k8s/deployment.yaml").read_text()
    assert changed_lines(DEPLOY_FILES["k8s/deployment.yaml"], after) == [
        f'-          image: "{API}:0000000"   # same image, runs the migrations',
        f'+          image: "{API}:1a2b3c4"   # same image, runs the migrations',
        f"-          image: {API}:0000000 # bumped by CI",
        f"+          image: {API}:1a2b3c4 # bumped by CI",
    ]
    workers = (repo / "k8s/workers.yml").read_text()
    assert workers == DEPLOY_FILES["k8s/workers.yml"].replace(f"{API}:0000000", f"{API}:1a2b3c4")
    assert "mysql:8.0   # not ours, never touched" in workers
    wheres = sorted(c.where for c in result.changes)
    assert wheres == [
        "CronJob/notes-cleanup container cleanup",
        "DaemonSet/log-agent container agent",
        "Deployment/notes-api container api",
        "Deployment/notes-api initContainer migrate",
        "Job/seed container seed",
    ]
    assert sorted(result.files) == ["k8s/deployment.yaml", "k8s/workers.yml"]


def test_files_without_a_change_are_not_rewritten(tmp_path: Path) -> None:
    repo = write_tree(tmp_path, DEPLOY_FILES)
    config = repo / "k8s/configmap.yaml"
    os.utime(config, (1_000_000, 1_000_000))
    inode = config.stat().st_ino
    patch_images(repo, ".", images(f"{API}=:v2"))
    assert config.stat().st_mtime == 1_000_000 and config.stat().st_ino == inode
    assert config.read_text() == DEPLOY_FILES["k8s/configmap.yaml"]
    again = patch_images(repo, ".", images(f"{API}=:v2"))
    assert again.changes == [] and again.files == [] and len(again.unchanged) == 5


def test_docker_hub_names_match_in_any_spelling_and_keep_their_own(tmp_path: Path) -> None:
    repo = write_tree(tmp_path, DEPLOY_FILES)
    patch_images(repo, "k8s", images("busybox=busybox:1.37"))
    text = (repo / "k8s/deployment.yaml").read_text()
    assert "image: 'docker.io/library/busybox:1.37'" in text
    assert normalize_name("busybox") == normalize_name("index.docker.io/library/busybox")


def test_new_name_and_digest(tmp_path: Path) -> None:
    repo = write_tree(tmp_path, DEPLOY_FILES)
    patch_images(repo, "k8s/workers.yml", images(f"mysql=127.0.0.1:8080/mirror/mysql:8.4@{DIGEST}"))
    text = (repo / "k8s/workers.yml").read_text()
    assert f"image: 127.0.0.1:8080/mirror/mysql:8.4@{DIGEST}   # not ours, never touched" in text


def test_kustomization_images_set_drop_and_add_keys(tmp_path: Path) -> None:
    repo = write_tree(tmp_path, {"kustomization.yaml": KUSTOMIZATION})
    result = patch_images(
        repo,
        ".",
        images(
            "bootcamp/notes-ui=10.0.24.28:30002/bootcamp/notes-ui:2.0",
            f"nginx=nginx@{DIGEST}",
        ),
    )
    after = (repo / "kustomization.yaml").read_text()
    assert changed_lines(KUSTOMIZATION, after) == [
        '-    newTag: "1.0"   # quoted: would be a float otherwise',
        '+    newTag: "2.0"   # quoted: would be a float otherwise',
        f"+    digest: {DIGEST}",
    ]
    assert "# the UI is pinned by tag; CI moves it" in after
    entries = {c.where.split()[-1]: (c.old, c.new) for c in result.changes}
    assert entries["nginx"] == ("nginx", f"nginx@{DIGEST}")
    # a tag replaces the digest again, and a REF naming the image itself drops newName
    patch_images(repo, ".", images("nginx=nginx:1.27", "bootcamp/notes-ui=bootcamp/notes-ui:3"))
    data = YAML(typ="safe").load((repo / "kustomization.yaml").read_text())
    assert data["images"] == [
        {"name": "bootcamp/notes-ui", "newTag": "3"},
        {"name": "nginx", "newTag": "1.27"},
    ]


def test_unquoted_numeric_tags_are_quoted_when_inserted(tmp_path: Path) -> None:
    repo = write_tree(tmp_path, {"kustomization.yaml": "images:\n- name: app\n"})
    patch_images(repo, ".", images("app=:1.10"))
    assert (repo / "kustomization.yaml").read_text() == 'images:\n- name: app\n  newTag: "1.10"\n'


def test_flow_style_kustomization_falls_back_to_round_trip(tmp_path: Path) -> None:
    repo = write_tree(tmp_path, {"kustomization.yaml": "# pinned\nimages: [{name: app, newTag: v1}]\n"})
    patch_images(repo, ".", images(f"app=@{DIGEST}"))
    text = (repo / "kustomization.yaml").read_text()
    assert "# pinned" in text
    assert YAML(typ="safe").load(text) == {"images": [{"name": "app", "digest": DIGEST}]}


def test_list_kind_and_pod(tmp_path: Path) -> None:
    files = {
        "list.yaml": "kind: List\nitems:\n- kind: Pod\n  metadata: {name: p}\n  spec:\n"
        "    containers:\n    - name: c\n      image: app:1\n"
    }
    repo = write_tree(tmp_path, files)
    result = patch_images(repo, ".", images("app=app:2"))
    assert [c.where for c in result.changes] == ["Pod/p container c"]
    assert "image: app:2\n" in (repo / "list.yaml").read_text()


def test_unknown_name_lists_the_images_found(tmp_path: Path) -> None:
    repo = write_tree(tmp_path, DEPLOY_FILES)
    with pytest.raises(ImageNotFound) as info:
        patch_images(repo, "k8s", images("bootcamp/notes-api=:v2"))
    message = str(info.value)
    assert "no image named 'bootcamp/notes-api'" in message and API in message and "mysql" in message


def test_path_must_stay_inside_the_repo(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", DEPLOY_FILES)
    with pytest.raises(GitOpsError, match="leaves the deploy repository"):
        patch_images(repo, "../..", images("app=:1"))
    with pytest.raises(GitOpsError, match="does not exist"):
        patch_images(repo, "nope", images("app=:1"))


def test_invalid_yaml_is_skipped_with_a_log_line(tmp_path: Path) -> None:
    repo = write_tree(tmp_path, {**DEPLOY_FILES, "k8s/helm-template.yaml": "image: {{ .Values.image }\n"})
    lines: list[str] = []
    patch_images(repo, "k8s", images(f"{API}=:v3"), lines.append)
    assert any("skipping k8s/helm-template.yaml" in line for line in lines)


@pytest.mark.parametrize(
    ("arg", "name", "ref"),
    [
        (f"{API}={API}:abc", API, f"{API}:abc"),
        (f"{API}:abc", API, f"{API}:abc"),
        ("nginx=:1.27", "nginx", ":1.27"),
        (f"nginx=@{DIGEST}", "nginx", f"@{DIGEST}"),
        (f"nginx=nginx:1@{DIGEST}", "nginx", f"nginx:1@{DIGEST}"),
        ("[::1]:5000/a/b=[::1]:5000/a/b:t", "[::1]:5000/a/b", "[::1]:5000/a/b:t"),
    ],
)
def test_parse_image_arg(arg: str, name: str, ref: str) -> None:
    parsed_name, parsed_ref = parse_image_arg(arg)
    assert parsed_name == name and str(parsed_ref) == ref


@pytest.mark.parametrize(
    ("arg", "fragment"),
    [
        ("nginx", "needs a tag or digest"),
        ("nginx=nginx", "needs a tag or a digest"),
        ("nginx:1=nginx:2", "must be a bare image name"),
        ("Nginx=:1", "invalid image name"),
        ("nginx=:bad tag", "invalid tag"),
        ("nginx=@sha256:xyz", "invalid digest"),
    ],
)
def test_bad_image_args_say_what_is_wrong(arg: str, fragment: str) -> None:
    with pytest.raises(ImageReferenceError, match=fragment):
        parse_image_arg(arg)


def test_parse_reference_round_trip() -> None:
    assert str(parse_reference(f"localhost:5000/x/y:t@{DIGEST}")) == f"localhost:5000/x/y:t@{DIGEST}"


def test_crlf_files_keep_their_line_ends(tmp_path: Path) -> None:
    pod = b"kind: Pod\r\nmetadata: {name: p}\r\nspec:\r\n  containers:\r\n"
    pod += b"  - name: c\r\n    image:\r\n      app:1\r\n"
    (tmp_path / "pod.yaml").write_bytes(pod)
    (tmp_path / "kustomization.yaml").write_bytes(b"images:\r\n- name: app\r\n")
    patch_images(tmp_path, ".", images("app=:2"))
    assert (tmp_path / "pod.yaml").read_bytes() == pod.replace(b"app:1", b"app:2")
    assert (tmp_path / "kustomization.yaml").read_bytes() == b'images:\r\n- name: app\r\n  newTag: "2"\r\n'
