"""Registry refresh tokens die with what they came from (issue 10, reproduction 8), with real curl.

Deleting an API token revokes every refresh token issued from it; changing a password revokes
the refresh tokens issued from password logins (and only those).
"""

from __future__ import annotations

import json
import subprocess

from tests.conftest import REPO_ROOT, DockyardServer
from tests.git.conftest import create_user, unique


def curl_json(*args: str) -> tuple[int, dict]:
    proc = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args],
                          capture_output=True, text=True, timeout=60, check=True)
    body, _, status = proc.stdout.rpartition("\n")
    return int(status), json.loads(body or "{}")


def refresh(server: DockyardServer, refresh_token: str) -> int:
    status, body = curl_json("-X", "POST", f"{server.url}/service/token",
                             "--data-urlencode", "grant_type=refresh_token",
                             "--data-urlencode", f"refresh_token={refresh_token}",
                             "--data-urlencode", "service=dockyard-registry",
                             "--data-urlencode", "scope=repository:x/y:pull")
    assert (status == 200) == ("token" in body), body
    return status


def test_deleting_an_api_token_revokes_its_refresh_tokens(server: DockyardServer) -> None:
    user = create_user(server, "tok")
    name = unique("ci")
    status, created = curl_json("-u", f"{user.username}:{user.password}",
                                "-H", "Content-Type: application/json",
                                "-d", json.dumps({"name": name, "scopes": ["all"]}),
                                f"{server.url}/api/v1/users/{user.username}/tokens")
    assert status == 201, created
    token = created["sha1"]
    status, issued = curl_json("-u", f"{user.username}:{token}",
                               f"{server.url}/service/token?service=dockyard-registry&offline_token=true"
                               f"&scope=repository:{user.username}/app:pull")
    assert status == 200 and issued["refresh_token"]
    assert refresh(server, issued["refresh_token"]) == 200
    status, _ = curl_json("-u", f"{user.username}:{user.password}", "-X", "DELETE",
                          f"{server.url}/api/v1/users/{user.username}/tokens/{name}")
    assert status == 204
    assert refresh(server, issued["refresh_token"]) == 401


def test_changing_a_password_revokes_password_refresh_tokens_only(server: DockyardServer) -> None:
    user = create_user(server, "pw")
    status, by_password = curl_json("-X", "POST", f"{server.url}/service/token",
                                    "--data-urlencode", "grant_type=password",
                                    "--data-urlencode", f"username={user.username}",
                                    "--data-urlencode", f"password={user.password}",
                                    "--data-urlencode", "service=dockyard-registry")
    assert status == 200 and by_password["refresh_token"]
    token = subprocess.run([*server.command("user"), "token", user.username, "--name", unique("t")],
                           capture_output=True, text=True, check=True, cwd=REPO_ROOT).stdout.split()[-1]
    status, by_token = curl_json("-u", f"{user.username}:{token}",
                                 f"{server.url}/service/token?service=dockyard-registry&offline_token=true")
    assert status == 200
    assert refresh(server, by_password["refresh_token"]) == 200
    subprocess.run([*server.command("user"), "passwd",
                    user.username, "--password", "a-new-password"],
                   check=True, capture_output=True, cwd=REPO_ROOT)
    assert refresh(server, by_password["refresh_token"]) == 401
    assert refresh(server, by_token["refresh_token"]) == 200  # an API token's stays valid
