"""Issue 13 acceptance 1 and 4: the tutorial through the web UI in a real browser (Playwright on
Debian's chromium, headless, nothing downloaded), against a real `dockyard up`: sign in, create
notes-app with auto-init, see the README, push with git, watch the console stream live until
SUCCESS, the stage table, the image link to the artifact page with both tags and the pull line,
delete a tag, sign out; anonymous visitors see no private page; a form without its token is
refused; no credential value in any page. Screenshots go to screenshots/ (gitignored)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ci.conftest import TUTORIAL, api_token, git
from tests.conftest import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    REPO_ROOT,
    DockyardServer,
    require_tool,
    start_server,
)

pytestmark = pytest.mark.slow
SHOTS = REPO_ROOT / "screenshots"


@pytest.fixture
def chromium() -> Iterator[object]:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed (make install adds it): the browser tests need it")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def tutorial_server(tmp_path: Path) -> Iterator[DockyardServer]:
    from tests.builder.conftest import namespaces_available

    reason = namespaces_available()
    if reason:
        pytest.skip(reason)
    for tool in ("git", "busybox"):
        require_tool(tool)
    srv = start_server(tmp_path / "data")
    yield srv
    srv.stop()


def _dockyard(*args: str, env: dict[str, str] | None = None) -> None:
    import os

    r = subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, timeout=300)
    assert r.returncode == 0, f"dockyard {' '.join(args)}:\n{r.stdout}\n{r.stderr}"


def prepare(server: DockyardServer, tmp_path: Path) -> str:
    """The tutorial's sections B.3 and C.2 (credential, job) and an offline base image; returns
    the base image reference."""
    from tests.builder.images import busybox_context

    hp = server.host_port
    server.add_user("bootcamp", "bootcamp")
    conn = ["--url", server.url, "--user", ADMIN_USER, "--password", ADMIN_PASSWORD]
    # in bootcamp's namespace (the tutorial's secret in the build namespace): bootcamp's jobs bind it
    _dockyard("credentials", *conn, "add-docker-registry", "harbor-auth", "--owner", "bootcamp",
              "--server", hp, "--username", ADMIN_USER, "--password", ADMIN_PASSWORD)
    docker_dir = tmp_path / "docker"
    docker_dir.mkdir()
    auth = base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode()
    (docker_dir / "config.json").write_text(json.dumps({"auths": {hp: {"auth": auth}}}))
    base = f"{hp}/library/busybox:1"
    rootfs = busybox_context(tmp_path / "base") / "rootfs"
    _dockyard("image", "import", "--rootfs", str(rootfs), "--destination", base, "--insecure",
              env={"DOCKER_CONFIG": str(docker_dir)})
    token = api_token(server)
    r = httpx.post(f"{server.url}/createItem", params={"name": "hello-kaniko"},
                   content=(TUTORIAL / "job.xml").read_text().replace("10.0.24.28:30022", hp),
                   headers={"Content-Type": "application/xml", "Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return base


def test_tutorial_through_the_browser(chromium: object, tutorial_server: DockyardServer,
                                      tmp_path: Path) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(chromium, Browser)
    server, hp = tutorial_server, tutorial_server.host_port
    base = prepare(server, tmp_path)
    SHOTS.mkdir(exist_ok=True)
    secrets = [base64.b64encode(f"{ADMIN_USER}:{ADMIN_PASSWORD}".encode()).decode(),
               f"{ADMIN_USER}:{ADMIN_PASSWORD}@"]
    pages_seen: list[str] = []

    context = chromium.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)

    def visit(path: str) -> None:
        page.goto(path)
        pages_seen.append(page.content())

    # sign in
    visit("/user/login")
    page.fill("input[name=username]", ADMIN_USER)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_contain_text(f"Welcome, {ADMIN_USER}")
    cookie = next(c for c in context.cookies() if c["name"] == "dockyard_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # create notes-app with auto-init, see the README
    visit("/repo/create")
    page.fill("input[name=owner]", "bootcamp")
    page.fill("input[name=name]", "notes-app")
    page.check("input[name=auto_init]")
    page.click("main button[type=submit]")
    page.wait_for_url("**/bootcamp/notes-app")
    expect(page.locator(".markdown h1")).to_have_text("notes-app")
    expect(page.locator("#clone-url")).to_have_value(f"{server.url}/bootcamp/notes-app.git")
    expect(page.locator("button.copy-button")).to_be_visible()  # the script ran (no CSP refusal)

    # push with git: the push starts build #1
    work = tmp_path / "notes-app"
    git("clone", "-q", f"http://bootcamp:bootcamp@{hp}/bootcamp/notes-app.git", str(work), cwd=tmp_path)
    (work / "Dockerfile").write_text((TUTORIAL / "Dockerfile").read_text().replace("FROM alpine:3.20",
                                                                                f"FROM {base}"))
    (work / "Jenkinsfile").write_text((TUTORIAL / "Jenkinsfile").read_text().replace("10.0.24.28:30002", hp))
    git("add", "Dockerfile", "Jenkinsfile", cwd=work)
    git("commit", "-q", "-m", "hello kaniko", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    short = git("rev-parse", "--short", "HEAD", cwd=work).strip()

    # watch the console stream live: the page is loaded once and the log grows in it
    deadline = time.monotonic() + 60
    while True:
        response = page.goto("/job/hello-kaniko/1/")
        if response is not None and response.status == 200:
            break
        assert time.monotonic() < deadline, "build #1 never started"
        time.sleep(0.3)
    page.evaluate("window.__loadedOnce = true")
    console = page.locator("#console")
    state = page.locator("#console-state")
    if "Finished" not in (state.text_content() or ""):
        expect(state).to_contain_text("live", timeout=10_000)
        expect(console).to_contain_text("[Pipeline]", timeout=60_000)
        page.screenshot(path=str(SHOTS / "build-live-console.png"), full_page=True)
    expect(state).to_contain_text("Finished: ", timeout=300_000)
    assert state.text_content() == "Finished: SUCCESS", console.text_content()
    expect(console).to_contain_text("Finished: SUCCESS")
    assert page.evaluate("window.__loadedOnce") is True  # streamed, not reloaded
    # the stage table followed the build in place
    expect(page.locator("table.stages")).to_contain_text("Build and Push", timeout=15_000)
    expect(page.locator("#outputs")).to_contain_text("hello-kaniko:latest")
    assert page.evaluate("window.__loadedOnce") is True
    streamed = console.text_content() or ""
    api_log = httpx.get(f"{server.url}/job/hello-kaniko/1/consoleText",
                        auth=(ADMIN_USER, ADMIN_PASSWORD)).text
    assert streamed.strip() == api_log.strip()  # the same (masked) log the API serves
    if not (SHOTS / "build-live-console.png").exists():
        page.screenshot(path=str(SHOTS / "build-live-console.png"), full_page=True)

    # the stage table (trace), then the image link to the artifact page
    visit("/job/hello-kaniko/1/")
    stages = page.locator("table.stages")
    for phase in ("queued", "checkout", "Build and Push"):
        expect(stages).to_contain_text(phase)
    expect(stages.locator("tr.k-push")).to_have_count(2)
    page.screenshot(path=str(SHOTS / "build.png"), full_page=True)
    page.locator("a[href^='/harbor/-/image']").first.click()
    page.wait_for_url("**/artifacts-tab/artifacts/sha256:*")
    pages_seen.append(page.content())
    tags = page.locator("table").filter(has_text="Pull command")
    expect(tags).to_contain_text(short)
    expect(tags).to_contain_text("latest")
    expect(page.locator(f"input[value='podman pull {hp}/bootcamp/hello-kaniko:latest']")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "artifact.png"), full_page=True)

    # delete a tag, with confirmation
    page.locator("tr", has_text=short).locator("a", has_text="Delete").click()
    expect(page.locator("h1")).to_have_text(f"Delete tag {short}?")
    page.click("main button.danger")
    expect(page.locator(".live")).to_contain_text(f"Tag {short} deleted")
    expect(page.locator("table").filter(has_text="Pull command")).not_to_contain_text(short)
    assert httpx.head(f"{server.url}/v2/bootcamp/hello-kaniko/manifests/{short}",
                      auth=(ADMIN_USER, ADMIN_PASSWORD)).status_code == 404

    # repository and home pages, for the screenshots and the credential check
    visit("/bootcamp/notes-app")
    expect(page.locator(".badge")).to_contain_text("success")  # the commit status of build #1
    page.screenshot(path=str(SHOTS / "repository.png"), full_page=True)
    visit("/")
    expect(page.locator("body")).to_contain_text("hello-kaniko #1")
    expect(page.locator("body")).to_contain_text("bootcamp pushed main of bootcamp/notes-app")
    page.screenshot(path=str(SHOTS / "home.png"), full_page=True)
    for path in ("/view/all/", "/job/hello-kaniko/", "/job/hello-kaniko/1/console", "/harbor/projects",
                 "/bootcamp/notes-app/commits/branch/main",
                 "/bootcamp/notes-app/src/branch/main/Jenkinsfile"):
        visit(path)
    for html in pages_seen:
        for secret in secrets:
            assert secret not in html

    # a form without its token is refused; signing out ends the session
    refused = page.request.post("/repo/create", form={"owner": "bootcamp", "name": "forged"})
    assert refused.status == 403
    page.click("text=Sign out")
    expect(page.locator("header")).to_contain_text("Sign in")
    assert page.goto("/job/hello-kaniko/1/") is not None
    assert "/user/login" in page.url

    # anonymous visitors: no build pages, no private repositories or projects
    httpx.post(f"{server.url}/api/v1/user/repos", auth=(ADMIN_USER, ADMIN_PASSWORD),
               json={"name": "private-notes", "private": True, "auto_init": True}).raise_for_status()
    anon = chromium.new_context(base_url=server.url).new_page()
    assert anon.goto(f"/{ADMIN_USER}/private-notes").status == 404  # type: ignore[union-attr]
    assert anon.goto("/harbor/projects/bootcamp/repositories").status == 404  # type: ignore[union-attr]
    anon.goto("/view/all/")
    assert "/user/login" in anon.url
    anon.goto("/")
    assert "private-notes" not in anon.content() and "hello-kaniko" not in anon.content()
