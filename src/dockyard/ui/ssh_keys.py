"""SSH keys in the browser (Gitea's /user/settings/keys): list, add, delete the signed-in user's
keys. The git component's key store does the work, as for the API's /api/v1/user/keys."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dockyard.git import RepoError
from dockyard.ui.web import Visitor, Web

PAGE = "/user/settings/keys"


class SSHKeys:
    def __init__(self, web: Web, git: Any) -> None:
        self.web = web
        self.git = git  # dockyard.git.GitServer: .keys (the store), .ssh (None while SSH is off)

    async def show(self, request: Request, visitor: Visitor, status: int = 200,
                   **extra: object) -> Response:
        keys = await asyncio.to_thread(self.git.keys.of_user, visitor.principal.user_id)
        base = self.git.notifier.ssh_base
        return self.web.render(request, visitor, "ssh_keys.html", status=status, keys=keys,
                               ssh_base=base, **extra)

    async def add(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        try:
            await asyncio.to_thread(self.git.keys.add, visitor.principal.user_id,
                                    form.get("title", ""), form.get("content", ""))
        except RepoError as exc:
            return await self.show(request, visitor, status=exc.status, error=str(exc),
                                   title=form.get("title", "")[:255])
        return self.web.redirect(request, visitor, PAGE)

    async def delete(self, request: Request, visitor: Visitor) -> Response:
        form = await self.web.form(request, visitor)
        key_id = form.get("id", "")
        if not (key_id.isascii() and key_id.isdigit() and len(key_id) <= 18):
            return await self.show(request, visitor, status=422, error="Choose a key to delete.")
        await asyncio.to_thread(self.git.keys.delete, visitor.principal.user_id, int(key_id))
        return self.web.redirect(request, visitor, PAGE)
