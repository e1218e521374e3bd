"""Which job may bind which credential: Jenkins' global/folder model in Dockyard's terms.

A credential belongs to the system (administrators) or to an owner namespace (a user or an org).
A job may bind:
  - credentials of its repository's owner (`alice/app`'s job: alice's credentials),
  - credentials an administrator (or the credential's owner) granted to that job by name,
  - system credentials when an administrator created the job (Jenkins' global credentials are
    visible to the jobs the administrators define; this keeps the tutorial's `harbor-auth`
    flow: an admin adds the credential, an admin creates `hello-kaniko`).
Everything else is `CredentialNotAvailable`, raised where the step binds it.

`resolve_for_job` is the one decision; the CI runner reaches it through `JobCredentials`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from dockyard.auth import AuthService
from dockyard.credentials.models import Credential
from dockyard.credentials.store import CredentialInfo, CredentialNotFound, CredentialStore


class CredentialNotAvailable(KeyError):
    """The credential exists but this job may not bind it; the message names the fix."""

    def __init__(self, info: CredentialInfo, job: str, repo_owner: str | None) -> None:
        super().__init__(info.id)
        self.credential_id, self.job = info.id, job
        self.owner, self.repo_owner = info.owner, repo_owner

    def __str__(self) -> str:
        belongs = f"it belongs to {self.owner!r}" if self.owner else "it is a system credential"
        repo = f"its repository's owner {self.repo_owner!r}" if self.repo_owner else \
            "its repository's owner"
        return (
            f"credential {self.credential_id!r} is not available to job {self.job!r}: {belongs}, and "
            f"a job binds only credentials of {repo} or ones granted to it. An administrator "
            f"can grant it: `dockyard credentials grant {self.credential_id} --job {self.job}` "
            f"(POST /api/ci/credentials/{self.credential_id}/grants {{\"job\": \"{self.job}\"}})"
        )


def resolve_for_job(
    store: CredentialStore,
    credential_id: str,
    *,
    job: str,
    repo_owner: str | None,
    job_created_by: str = "",
) -> Credential:
    """The credential if `job` (whose repository belongs to `repo_owner`, None when the repository
    is not on this Dockyard) may bind it; raises CredentialNotFound or CredentialNotAvailable."""
    info = store.info(credential_id)
    if info is None:
        raise CredentialNotFound(credential_id)
    if not _available(store, info, job, repo_owner, job_created_by):
        raise CredentialNotAvailable(info, job, repo_owner)
    return store.get(credential_id)


def _available(
    store: CredentialStore, info: CredentialInfo, job: str, repo_owner: str | None, created_by: str
) -> bool:
    if job in info.granted_jobs:
        return True
    if info.owner:
        return repo_owner is not None and info.owner.lower() == repo_owner.lower()
    return bool(created_by) and _is_admin(store, created_by)


def _is_admin(store: CredentialStore, username: str) -> bool:
    """Whether the user is an administrator now (a demoted admin's jobs lose system credentials)."""
    user = AuthService(store.db).get_user(username)
    return user is not None and user.is_admin


@dataclass(frozen=True)
class JobCredentials:
    """The credential store as one job sees it: `get(id)` answers only what the job may bind.
    Fits CI's `CredentialLookup` (pod template secret volumes, credentials(), withCredentials,
    gitopsSetImage), so every binding path goes through `resolve_for_job`."""

    store: CredentialStore
    job: str
    repo_owner: str | None
    job_created_by: str = ""

    def get(self, credential_id: str) -> Credential:
        return resolve_for_job(
            self.store, credential_id, job=self.job, repo_owner=self.repo_owner,
            job_created_by=self.job_created_by,
        )


_L = TypeVar("_L")


def job_credentials(
    lookup: _L, job: str, *, repo_owner: str | None, job_created_by: str = ""
) -> _L | JobCredentials:
    """What a build of `job` may bind: the store seen through `resolve_for_job` (a lookup that
    is not a CredentialStore, such as None or a test's fake, is returned as is)."""
    if isinstance(lookup, CredentialStore):
        return JobCredentials(lookup, job, repo_owner, job_created_by)
    return lookup
