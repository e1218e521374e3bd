"""Issue 10, reproductions 5, 11 and 12 (text/plain, 50 MB description): bad or huge input gets the
API's own 4xx, never a 500, and a huge anonymous body is cut at the limit before any credential
or signature work, with the server's peak memory staying small. Real curl against `dockyard up`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER, DockyardServer, require_tool

ADMIN = f"{ADMIN_USER}:{ADMIN_PASSWORD}"
HUGE = 600 * 1024 * 1024
PEAK_RSS_LIMIT_KB = 200 * 1024


def curl(server: DockyardServer, method: str, path: str, *args: str,
         user: str | None = ADMIN) -> tuple[int, str]:
    """(status, body) of one curl request; curl may report a broken pipe after an early 413.
    A `_Body` argument is sent on stdin (as `@-`)."""
    require_tool("curl")
    cmd = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--max-time", "120"]
    if user:
        cmd += ["-u", user]
    stdin = None
    rest = list(args)
    for i, arg in enumerate(rest):
        if isinstance(arg, _Body):
            stdin, rest[i] = arg.data, "@-"
    result = subprocess.run([*cmd, *rest, server.url + path], input=stdin, capture_output=True,
                            check=False)
    body, _, code = result.stdout.decode(errors="replace").rpartition("\n")
    return int(code or 0), body


class _Body(str):
    """A request body handed to curl on stdin (argument lists have a size limit)."""

    @property
    def data(self) -> bytes:
        return str(self).encode()


def json_args(body: str, content_type: str = "application/json") -> list[str]:
    return ["-H", f"Content-Type: {content_type}", "--data-binary", _Body(body)]


def deep(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


def peak_rss_kb(server: DockyardServer) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


def _sparse(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "huge.bin"
    with open(path, "wb") as f:
        f.truncate(size)  # sparse: no disk or page cache filled on the client side
    return path


# -- reproduction 5: huge anonymous bodies ----------------------------------------------------

@pytest.mark.parametrize("path", ["/service/token", "/api/ci/hooks/gitea"])
def test_huge_anonymous_body_is_cut_before_credentials(fresh_server: DockyardServer,
                                                       tmp_path: Path, path: str) -> None:
    huge = _sparse(tmp_path, HUGE)
    before = peak_rss_kb(fresh_server)
    # announced size (Content-Length): refused before a byte of the body is read
    status, body = curl(fresh_server, "POST", path, "-H", "Content-Type: application/json",
                        "-T", str(huge), user=None)
    assert status == 413, body
    assert "larger than the limit" in body
    # chunked (no length announced): read up to the limit, then refused
    status, body = curl(fresh_server, "POST", path, "-H", "Content-Type: application/json",
                        "-H", "Transfer-Encoding: chunked", "-T", str(huge), user=None)
    assert status == 413, body
    # with credentials that would fail: still 413, the body is refused before they are checked
    status, body = curl(fresh_server, "POST", path, "-H", "Transfer-Encoding: chunked",
                        "-T", str(huge), user="admin:wrong-password")
    assert status == 413, body
    after = peak_rss_kb(fresh_server)
    print(f"\n{path}: peak RSS {before // 1024} MiB before, {after // 1024} MiB after three "
          f"600 MiB uploads")
    assert after < PEAK_RSS_LIMIT_KB, f"peak RSS {after} kB"
    assert fresh_server.process.poll() is None


def test_webhook_limit_is_25_mib_and_signature_still_checked(server: DockyardServer,
                                                             tmp_path: Path) -> None:
    just_over = _sparse(tmp_path, 25 * 1024 * 1024 + 1)
    status, _ = curl(server, "POST", "/api/ci/hooks/gitea", "-H", "X-Gitea-Event: push",
                     "-H", "Content-Type: application/json", "-T", str(just_over), user=None)
    assert status == 413
    status, body = curl(server, "POST", "/api/ci/hooks/gitea", "-H", "X-Gitea-Event: push",
                        *json_args('{"ref":"refs/heads/main"}'), user=None)
    assert status == 403 and "signature" in body


# -- reproduction 11: 500s on bad input -------------------------------------------------------

def test_deeply_nested_manifest_is_manifest_invalid(server: DockyardServer) -> None:
    status, body = curl(server, "PUT", "/v2/httpkit/deep/manifests/v1",
                        *json_args(deep(), "application/vnd.oci.image.manifest.v1+json"))
    assert status == 400, body
    assert json.loads(body)["errors"][0]["code"] == "MANIFEST_INVALID"


@pytest.mark.parametrize("body", ["[]", "null", '{"metadata":"x"}', '"x"', "1",
                                  '{"project_name":123}', '{"project_name":"hk-meta","metadata":"x"}',
                                  '{"project_name":"hk-meta2","metadata":[1]}'])
def test_harbor_project_create_refuses_wrong_shapes(server: DockyardServer, body: str) -> None:
    status, text = curl(server, "POST", "/api/v2.0/projects", *json_args(body))
    assert status == 400, text
    assert json.loads(text)["errors"][0]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize("body", ["[]", "null", '{"metadata":"x"}', '{"metadata":[]}'])
def test_harbor_project_update_refuses_wrong_shapes(server: DockyardServer, body: str) -> None:
    status, _ = curl(server, "POST", "/api/v2.0/projects",
                     *json_args('{"project_name":"hk-put","metadata":{"public":"false"}}'))
    assert status in (201, 409)
    status, text = curl(server, "PUT", "/api/v2.0/projects/hk-put", *json_args(body))
    assert status == 400, text
    assert json.loads(text)["errors"][0]["code"] == "BAD_REQUEST"


def test_harbor_project_name_limit_is_harbors(server: DockyardServer) -> None:
    status, text = curl(server, "POST", "/api/v2.0/projects",
                        *json_args(json.dumps({"project_name": "a" * 256})))
    assert status == 400 and "limit is 255" in text


def test_harbor_deeply_nested_json(server: DockyardServer) -> None:
    status, text = curl(server, "POST", "/api/v2.0/projects", *json_args(deep()))
    assert status == 400 and "nested deeper" in text


@pytest.fixture(scope="module")
def gitea_repo(server: DockyardServer) -> str:
    status, body = curl(server, "POST", "/api/v1/user/repos",
                        *json_args('{"name":"httpkit-repo","auto_init":true}'))
    assert status in (201, 409), body
    return "/api/v1/repos/admin/httpkit-repo"


def test_gitea_deeply_nested_json(server: DockyardServer) -> None:
    status, text = curl(server, "POST", "/api/v1/user/repos", *json_args(deep()))
    assert status == 422, text
    assert "nested deeper" in json.loads(text)["message"]


def test_gitea_patch_repo_name_of_wrong_type(server: DockyardServer, gitea_repo: str) -> None:
    status, text = curl(server, "PATCH", gitea_repo, *json_args('{"name":123}'))
    assert status == 422, text
    assert json.loads(text) == {"message": "name must be a string, not a number",
                                "url": "https://docs.gitea.com/api/"}


@pytest.mark.parametrize("date", ["yesterday", "2024-13-01T00:00:00Z", "2024-01-01T00:00:00",
                                  "0001-01-01T00:00:00Z", 12, ["x"]])
def test_gitea_contents_bad_author_date(server: DockyardServer, gitea_repo: str,
                                        date: object) -> None:
    body = {"content": "aGk=", "dates": {"author": date}}
    status, text = curl(server, "POST", gitea_repo + "/contents/dates.txt", *json_args(json.dumps(body)))
    assert status == 422, text
    assert "dates.author" in json.loads(text)["message"]


def test_gitea_contents_good_author_date(server: DockyardServer, gitea_repo: str) -> None:
    body = {"content": "aGk=", "dates": {"author": "2021-02-03T04:05:06+01:00"}}
    status, text = curl(server, "POST", gitea_repo + "/contents/good-date.txt",
                        *json_args(json.dumps(body)))
    assert status == 201, text
    assert json.loads(text)["commit"]["author"]["date"].startswith("2021-02-03")


def test_jenkins_non_latin1_job_name_is_404(server: DockyardServer) -> None:
    status, text = curl(server, "GET", "/job/%E2%98%83/api/json")
    assert status == 404, text


# -- reproduction 12: text/plain JSON and a 50 MB description ---------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
@pytest.mark.parametrize("method,path,body", [
    ("POST", "/api/v1/user/repos", '{"name":"csrf-repo"}'),
    ("POST", "/api/v2.0/projects", '{"project_name":"csrf-project"}'),
    ("POST", "/api/ci/credentials", '{"id":"csrf","kind":"secret_text","text":"x"}'),
])
def test_json_apis_refuse_form_content_types(server: DockyardServer, content_type: str,
                                             method: str, path: str, body: str) -> None:
    status, text = curl(server, method, path, *json_args(body, content_type))
    assert status == 415, text
    assert "application/json" in text


def test_json_with_charset_is_accepted(server: DockyardServer) -> None:
    status, text = curl(server, "POST", "/api/v2.0/projects",
                        *json_args('{"project_name":"hk-charset"}', "application/json; charset=utf-8"))
    assert status in (201, 409), text


def test_fifty_megabyte_description_is_refused(server: DockyardServer, gitea_repo: str,
                                              tmp_path: Path) -> None:
    big = tmp_path / "desc.json"
    big.write_text(json.dumps({"description": "x" * (50 * 1024 * 1024)}))
    status, text = curl(server, "PATCH", gitea_repo, "-H", "Content-Type: application/json",
                        "--data-binary", f"@{big}")
    assert status == 413, text
    status, text = curl(server, "PATCH", gitea_repo, *json_args(json.dumps({"description": "d" * 2049})))
    assert status == 422 and "limit is 2048" in text
    status, text = curl(server, "PATCH", gitea_repo, *json_args(json.dumps({"website": "w" * 1025})))
    assert status == 422 and "limit is 1024" in text
    status, text = curl(server, "POST", "/api/v1/user/repos",
                        *json_args(json.dumps({"name": "n" * 101})))
    assert status == 422
    status, text = curl(server, "GET", gitea_repo)
    assert len(json.loads(text)["description"]) <= 2048
