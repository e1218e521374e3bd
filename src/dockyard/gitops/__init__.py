"""GitOps: set image references in a deploy repository, commit and push, retrying when raced.

Public API (import from `dockyard.gitops` only):

    result = set_image(
        repo_url,                 # any git URL: file://, http(s):// (userinfo moved into a header), path
        path,                     # directory (or one file) inside the repo, e.g. "k8s" or "."
        images={NAME: REF},       # NAME: image name as in the manifests; REF: name:tag, name@digest,
                                  #   :tag or @digest (keep the name); ImageRef values accepted too
        branch=None,              # default: the remote's default branch
        message=None,             # commit subject; default "Set image NAME=REF (source <sha>)"
        source_commit=None,       # the app commit that was built; recorded as Source-Commit: trailer
        auth=None,                # GitAuth.basic(user, password_or_token) | GitAuth.token(token)
        log=None,                 # Callable[[str], None]: one line per git command / change (CI: masked log)
        max_attempts=6,           # push attempts when the branch moves underneath (non-fast-forward)
        allowed_protocols=None,   # CI: ("http", "https") so a pipeline cannot reach file:// repos
    ) -> SetImageResult(repo, branch, commit | None, changes: [ImageChange], unchanged, attempts, pushed)

Raises GitOpsError (clone/push failures, bad arguments; message says what to fix) and its subclasses
ImageNotFound (NAME matches no image under path; lists the images found) and GitCommandError.
Nothing to change is not an error: `commit` is None. It blocks (git subprocesses): from asyncio
call it through `asyncio.to_thread`; `log` is then called from that thread.

What gets patched: container and initContainer `image` fields of Pod, Deployment, StatefulSet,
DaemonSet, ReplicaSet, Job, CronJob (and `List` items), in multi-document YAML files; and
kustomization `images:` entries (`newName`, `newTag`, `digest`). Names match as Docker
normalises them. Only the changed value is edited in the text (comments, quoting and layout stay);
unchanged files are not rewritten.

Pipeline step (CI passes the parsed named arguments; rules for credentials and URLs live here):

    run_gitops_step({"repo": URL, "path": "k8s", "image": "NAME=REF" | [...], "images": {NAME: REF},
                     "credentialsId": "gitea-login", "branch": ..., "message": ..., "sourceCommit": ...},
                    env=build_env, log=masked_log_line, credentials=credential_store,
                    allowed_protocols=("http", "https")) -> SetImageResult
    STEP_NAME = "gitopsSetImage" (the suggested Jenkinsfile step name)

Lower level: patch_images(repo_dir, path, {NAME: ImageRef}, log) -> PatchResult (no git);
parse_image_arg("NAME=REF") -> (NAME, ImageRef); parse_reference(text) -> ImageRef.
"""

from dockyard.gitops.errors import GitOpsError, ImageNotFound
from dockyard.gitops.git import GitAuth, GitCommandError, split_userinfo
from dockyard.gitops.patch import ImageChange, PatchResult, patch_images
from dockyard.gitops.references import ImageRef, ImageReferenceError, parse_image_arg, parse_reference
from dockyard.gitops.setimage import SetImageResult, normalize_images, set_image
from dockyard.gitops.step import STEP_NAME, run_gitops_step

__all__ = [
    "GitAuth",
    "GitCommandError",
    "GitOpsError",
    "ImageChange",
    "ImageNotFound",
    "ImageRef",
    "ImageReferenceError",
    "PatchResult",
    "STEP_NAME",
    "SetImageResult",
    "normalize_images",
    "parse_image_arg",
    "parse_reference",
    "patch_images",
    "run_gitops_step",
    "set_image",
    "split_userinfo",
]
