"""The `gitopsSetImage` pipeline step (dockyard.gitops) against Dockyard's own git server: the
deploy repository's manifest is patched, committed with the source commit and pushed, with the
stored credential's password masked in the log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.ci.conftest import Jenkins, git, inline_job_xml, unique
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: notes-api
spec:
  template:
    spec:
      containers:
      - name: api
        image: reg.example/app:old   # set by CI
"""


def test_gitops_step_patches_commits_and_pushes(
    server: DockyardServer, jenkins: Jenkins, tmp_path: Path
) -> None:
    repo, owner = unique("deploy"), unique("deployer")
    server.add_user(owner, "deployer-pass")
    r = httpx.post(
        f"{server.url}/api/v1/user/repos",
        auth=(owner, "deployer-pass"),
        json={"name": repo, "auto_init": True, "default_branch": "main"},
    )
    assert r.status_code == 201, r.text
    work = tmp_path / repo
    git(
        "clone",
        "-q",
        f"http://{owner}:deployer-pass@{server.host_port}/{owner}/{repo}.git",
        str(work),
        cwd=tmp_path,
    )
    (work / "k8s").mkdir()
    (work / "k8s" / "deployment.yaml").write_text(DEPLOYMENT)
    git("add", "k8s", cwd=work)
    git("commit", "-q", "-m", "deployment", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)

    cred = unique("deploy-login")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dockyard",
            "credentials",
            "--url",
            server.url,
            "--user",
            ADMIN_USER,
            "--password",
            ADMIN_PASSWORD,
            "add-username-password",
            cred,
            "--username",
            owner,
            "--password",
            "deployer-pass",
        ],
        check=True,
        capture_output=True,
    )
    name = unique("gitops")
    script = f"""pipeline {{
  agent any
  environment {{ TAG = "build-${{BUILD_NUMBER}}" }}
  stages {{
    stage('Deploy') {{
      steps {{
        gitopsSetImage repo: '{server.url}/{owner}/{repo}.git', path: 'k8s',
                       image: "reg.example/app=reg.example/app:${{TAG}}",
                       credentialsId: '{cred}'
      }}
    }}
  }}
}}"""
    jenkins.create(name, inline_job_xml(script))
    # an inline script has no repository owner: the system credential is bound by grant only
    granted = jenkins.http.post(f"/api/ci/credentials/{cred}/grants", json={"job": name})
    assert granted.status_code == 200, granted.text
    info, log = jenkins.run(name, timeout=120)
    assert info["result"] == "SUCCESS", log
    assert "deployer-pass" not in log
    git("pull", "-q", "origin", "main", cwd=work)
    patched = (work / "k8s" / "deployment.yaml").read_text()
    assert patched == DEPLOYMENT.replace("app:old", "app:build-1")  # comment and layout kept
    trace = jenkins.http.get(f"/api/ci/jobs/{name}/builds/1/trace").json()
    assert any(s["kind"] == "gitops" and s["status"] == "ok" for s in trace["spans"])

    # an image the manifests do not have fails the step with the gitops error
    jenkins.http.post(
        f"/job/{name}/config.xml",
        content=inline_job_xml(script.replace("reg.example/app=", "reg.example/other=")),
    )
    info, log = jenkins.run(name, timeout=120)
    assert info["result"] == "FAILURE"
    assert "reg.example/other" in log and "ERROR:" in log
