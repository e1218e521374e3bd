"""A deploy repository like the tutorial's notes-deploy: comments, several manifests, kustomize."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REGISTRY = "10.0.24.28:30002"
API = f"{REGISTRY}/bootcamp/notes-api"

DEPLOYMENT = f"""\
# notes-api: rolled by CI through GitOps; Argo CD syncs this directory.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: notes-api      # keep in sync with the Service
  labels: {{app: notes-api}}
spec:
  replicas: 2
  template:
    spec:
      initContainers:
        - name: migrate
          image: "{API}:0000000"   # same image, runs the migrations
          args: ["migrate"]
      containers:
        - name: api
          image: {API}:0000000 # bumped by CI
          ports: [{{containerPort: 8080}}]
          resources:
            requests: {{cpu: 100m, memory: 64Mi}}
        - {{name: sidecar, image: 'docker.io/library/busybox:1.36', command: [/bin/sh]}}
---
apiVersion: v1
kind: Service
metadata:
  name: notes-api
spec:
  ports:
  - port: 80
    targetPort: 8080
"""

WORKERS = f"""\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: notes-cleanup
spec:
  schedule: "0 3 * * *"   # nightly
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: cleanup
            image: {API}:0000000
          restartPolicy: OnFailure
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: mysql
spec:
  template:
    spec:
      containers:
      - name: mysql
        image: mysql:8.0   # not ours, never touched
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: log-agent}}
spec:
  template:
    spec:
      containers:
      - name: agent
        image: '{API}:0000000'
---
apiVersion: batch/v1
kind: Job
metadata: {{name: seed}}
spec:
  template:
    spec:
      containers: [{{name: seed, image: "{API}:0000000"}}]
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes-config
data:
  image: not-an-image-field:1.0   # a string that only looks like an image
"""

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
images:
  # the UI is pinned by tag; CI moves it
  - name: bootcamp/notes-ui
    newName: 10.0.24.28:30002/bootcamp/notes-ui
    newTag: "1.0"   # quoted: would be a float otherwise
  - name: nginx
"""

DEPLOY_FILES = {
    "README.md": "# notes-deploy\n",
    "k8s/deployment.yaml": DEPLOYMENT,
    "k8s/workers.yml": WORKERS,
    "k8s/configmap.yaml": CONFIGMAP,
    "overlays/prod/kustomization.yaml": KUSTOMIZATION,
}


def git(*args: str, cwd: Path | None = None) -> str:
    env_args = [
        "-c",
        "user.name=Tester",
        "-c",
        "user.email=tester@example.com",
        "-c",
        "init.defaultBranch=main",
    ]
    proc = subprocess.run(["git", *env_args, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def make_deploy_repo(root: Path, files: dict[str, str] | None = None) -> Path:
    """A bare repo `root/notes-deploy.git` with one commit holding `files`."""
    bare = root / "notes-deploy.git"
    git("init", "--quiet", "--bare", "-b", "main", str(bare))
    seed = root / "seed"
    git("init", "--quiet", "-b", "main", str(seed))
    for rel, content in (files or DEPLOY_FILES).items():
        target = seed / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git("add", ".", cwd=seed)
    git("commit", "--quiet", "-m", "initial manifests", cwd=seed)
    git("push", "--quiet", str(bare), "main", cwd=seed)
    return bare


def show(bare: Path, rel: str, ref: str = "main") -> str:
    return git("--git-dir", str(bare), "show", f"{ref}:{rel}") + "\n"


@pytest.fixture
def deploy_repo(tmp_path: Path) -> Path:
    return make_deploy_repo(tmp_path)
