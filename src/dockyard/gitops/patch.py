"""Set image references in a checked-out deploy repo: workloads' containers and kustomization images.

Only files that change are written (atomically, keeping their mode); each edit touches only the
value it changes (see `yamledit`). A NAME that matches no image under the path is an error that
lists the images that are there, since a silent no-op would leave a deploy stale.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.error import YAMLError

from dockyard.gitops.errors import GitOpsError, ImageNotFound
from dockyard.gitops.manifests import container_images, is_kustomization, kustomize_images
from dockyard.gitops.references import (
    ImageRef,
    ImageReferenceError,
    apply_ref,
    normalize_name,
    parse_reference,
    same_name,
)
from dockyard.gitops.yamledit import EditNotPossible, TextEditor, dump_documents, load_documents, same_data
from dockyard.store import atomic_write_bytes

_KUSTOMIZE_FIELDS = ("newName", "newTag", "digest")


@dataclass(frozen=True)
class ImageChange:
    file: str
    where: str
    name: str
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.old} -> {self.new}"


@dataclass
class PatchResult:
    changes: list[ImageChange] = field(default_factory=list)
    unchanged: list[ImageChange] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def patch_images(
    repo_dir: Path,
    path: str,
    images: Mapping[str, ImageRef],
    log: Callable[[str], None] = lambda _line: None,
) -> PatchResult:
    """Apply `images` (NAME -> REF) to the YAML files under `repo_dir/path`; returns what changed."""
    root = repo_dir.resolve()
    result = PatchResult()
    seen: dict[str, str] = {}
    for file in _yaml_files(root, path):
        rel = file.relative_to(root).as_posix()
        try:
            text = file.read_bytes().decode("utf-8")  # not read_text: keep CRLF line ends as they are
            docs = load_documents(text)
        except (YAMLError, UnicodeDecodeError) as exc:
            log(f"gitops: skipping {rel}: not valid UTF-8 YAML ({str(exc).splitlines()[0]})")
            continue
        editor = TextEditor(text)
        changed: list[ImageChange] = []
        for doc in docs:
            for change, matched in _patch_containers(doc, editor, images, rel, seen):
                (changed if matched else result.unchanged).append(change)
            if is_kustomization(file.name, doc):
                for change, matched in _patch_kustomization(doc, editor, images, rel, seen):
                    (changed if matched else result.unchanged).append(change)
        if not changed:
            continue
        new_text = _render(editor, docs, text, rel)
        atomic_write_bytes(file, new_text.encode("utf-8"), mode=file.stat().st_mode & 0o7777)
        result.changes.extend(changed)
        result.files.append(rel)
    matched_names = {normalize_name(c.name) for c in result.changes + result.unchanged}
    for name in images:
        if normalize_name(name) not in matched_names:
            present = ", ".join(sorted(set(seen.values()))) or "none"
            raise ImageNotFound(
                f"no image named {name!r} under {path!r} (images found: {present}); "
                "check --path and the NAME part of --image NAME=REF"
            )
    return result


def _render(editor: TextEditor, docs: list[Any], original: str, rel: str) -> str:
    try:
        new_text = editor.result()
        if same_data(load_documents(new_text), docs):
            return new_text
    except (EditNotPossible, YAMLError):
        pass
    new_text = dump_documents(docs, original)
    if not same_data(load_documents(new_text), docs):
        raise GitOpsError(f"could not rewrite {rel} without changing other values; edit it by hand")
    return new_text


def _patch_containers(
    doc: Any, editor: TextEditor, images: Mapping[str, ImageRef], rel: str, seen: dict[str, str]
) -> Iterator[tuple[ImageChange, bool]]:
    for slot in container_images(doc):
        value = str(slot.container["image"])
        try:
            current = parse_reference(value)
        except ImageReferenceError:
            continue
        seen[normalize_name(current.name)] = current.name
        for name, ref in images.items():
            if not same_name(current.name, name):
                continue
            new = str(apply_ref(current, ref))
            change = ImageChange(rel, slot.where, name, value, new)
            if new == value:
                yield change, False
                break
            _try(editor.set_scalar, slot.container, "image", new)
            slot.container["image"] = new
            yield change, True
            break


def _patch_kustomization(
    doc: Any, editor: TextEditor, images: Mapping[str, ImageRef], rel: str, seen: dict[str, str]
) -> Iterator[tuple[ImageChange, bool]]:
    for slot in kustomize_images(doc):
        entry = slot.entry
        entry_name = str(entry["name"])
        seen[normalize_name(entry_name)] = entry_name
        for name, ref in images.items():
            if not same_name(entry_name, name):
                continue
            want: dict[str, str | None] = {
                "newName": entry.get("newName"),
                "newTag": ref.tag or None,
                "digest": ref.digest or None,
            }
            if ref.name:
                want["newName"] = None if same_name(ref.name, entry_name) else ref.name
            old = _kustomize_effective(entry)
            if all(_str_or_none(entry.get(k)) == want[k] for k in _KUSTOMIZE_FIELDS):
                yield ImageChange(rel, slot.where, name, old, old), False
                break
            _edit_kustomize_entry(editor, entry, want)
            yield ImageChange(rel, slot.where, name, old, _kustomize_effective(entry)), True
            break


def _edit_kustomize_entry(editor: TextEditor, entry: Any, want: dict[str, str | None]) -> None:
    inserts: dict[str, list[tuple[str, str]]] = {}
    anchor = "name"
    for key in _KUSTOMIZE_FIELDS:
        current = entry.get(key)
        value = want[key]
        if value is None:
            if key in entry:
                _try(editor.drop_key, entry, key)
                del entry[key]
            continue
        if key in entry:
            if _str_or_none(current) != value:
                _try(editor.set_scalar, entry, key, value)
                entry[key] = value
            anchor = key
            continue
        inserts.setdefault(anchor, []).append((key, value))
    for after, pairs in inserts.items():
        _try(editor.add_keys_after, entry, after, pairs)
        position = list(entry.keys()).index(after) + 1
        for offset, (key, value) in enumerate(pairs):
            entry.insert(position + offset, key, value)


def _try(operation: Callable[..., None], *args: Any) -> None:
    """A text edit that cannot be made only means the file falls back to a round-trip dump."""
    try:
        operation(*args)
    except EditNotPossible:
        editor = getattr(operation, "__self__", None)
        if isinstance(editor, TextEditor):
            editor.impossible = True


def _kustomize_effective(entry: Any) -> str:
    name = str(entry.get("newName") or entry["name"])
    return str(ImageRef(name, str(entry.get("newTag") or ""), str(entry.get("digest") or "")))


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _yaml_files(root: Path, path: str) -> Iterator[Path]:
    target = (root / path).resolve() if path not in ("", ".") else root
    if target != root and root not in target.parents:
        raise GitOpsError(f"--path {path!r} leaves the deploy repository; give a path inside it")
    if not target.exists():
        raise GitOpsError(f"--path {path!r} does not exist in the deploy repository")
    if target.is_file():
        yield target
        return
    for dirpath, dirnames, filenames in os.walk(target):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for filename in sorted(filenames):
            if not (filename.endswith((".yaml", ".yml")) or filename == "Kustomization"):
                continue
            file = Path(dirpath) / filename
            resolved = file.resolve()
            if file.is_symlink() and root not in resolved.parents:
                continue
            yield file
