"""The credentials one build may use. Every lookup of a credential id by CI (job checkout,
`credentials('id')`, `withCredentials`, pod template secrets, `gitopsSetImage`) goes through
`BuildCredentials.get`, over the store as seen by the job (`dockyard.credentials.job_credentials`:
the owner/scope decision), and every secret handed out joins the build's masker."""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path

from dockyard.ci.buildlog import SecretMasker
from dockyard.ci.errors import StepFailed
from dockyard.ci.podtemplate import CredentialLike, CredentialLookup


class BuildCredentials:
    """The job-scoped `CredentialLookup` of one build; `store` is None when there is no store."""

    def __init__(self, store: CredentialLookup | None, masker: SecretMasker, secrets_dir: Path) -> None:
        self.store, self.masker, self.secrets_dir = store, masker, secrets_dir

    @property
    def lookup(self) -> CredentialLookup | None:
        """For code that takes an optional `CredentialLookup` (pod templates, gitops)."""
        return self if self.store is not None else None

    def get(self, credential_id: str) -> CredentialLike:
        """The credential, its secrets added to the masker; KeyError when the job may not have it."""
        if self.store is None:
            raise KeyError(credential_id)
        credential = self.store.get(credential_id)
        self.masker.add(credential.mask_values())
        return credential

    def data(self, credential_id: str, where: str) -> dict[str, bytes]:
        """The credential's fields, or StepFailed naming `where` it was asked for and the fix."""
        if self.store is None:
            raise StepFailed(f"{where}: no credential store is configured")
        try:
            return self.get(credential_id).data()
        except KeyError as e:  # not found, or not available to this job: the store's message says which
            why = str(e) if type(e) is not KeyError else f"no credential with id {credential_id!r}"
            raise StepFailed(f"{where}: {why}") from None

    def env(self, name: str, credential_id: str) -> dict[str, str]:
        """Jenkins' credentials() binding: user:pass plus _USR/_PSW, secret text, or a file path."""
        data = self.data(credential_id, f"credentials('{credential_id}')")
        if set(data) == {"username", "password"}:
            user, pw = data["username"].decode(), data["password"].decode()
            return {name: f"{user}:{pw}", f"{name}_USR": user, f"{name}_PSW": pw}
        if set(data) == {"text"}:
            return {name: data["text"].decode()}
        self.secrets_dir.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.secrets_dir, prefix=f"{credential_id}-")
        with os.fdopen(fd, "wb") as f:
            f.write(next(iter(data.values())))
        return {name: tmp}

    def git_header(self, credential_id: str) -> list[str]:
        """`git -c http.extraHeader=...` arguments for the job's clone credentials."""
        data = self.data(credential_id, "job credentialsId")
        if "username" not in data or "password" not in data:
            raise StepFailed(f"credential {credential_id!r} must be a username/password for git")
        token = base64.b64encode(data["username"] + b":" + data["password"]).decode()
        self.masker.add([token])
        return ["-c", f"http.extraHeader=Authorization: Basic {token}"]
