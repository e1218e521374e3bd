"""Which job may bind which credential: Jenkins' global/folder model in Dockyard's terms.

A credential belongs to the system (administrators) or to an owner namespace (a user or an org).
A job may bind only:
  - credentials of its repository's owner (`alice/app`'s job: alice's credentials; Kubernetes'
    analogue is a secret in the build's namespace, as the tutorial's `harbor-auth`), and
  - credentials an administrator (or the credential's owner) granted to that job by name.
System credentials are no exception: whoever can push a Jenkinsfile to a watched repository
writes the steps, so a system credential reaches a job only through an explicit grant.
Everything else is `CredentialNotAvailable`, raised where the step binds it, naming both fixes.

`resolve_for_job` is the one decision; the CI runner reaches it through `JobCredentials`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from dockyard.credentials.models import Credential
from dockyard.credentials.store import CredentialInfo, CredentialNotFound, CredentialStore

# the CLI action that stores each kind (named in the refusal's fix)
_ADD = {"docker_config": "add-docker-registry", "username_password": "add-username-password",
        "secret_text": "add-secret-text", "secret_file": "add-file"}


class CredentialNotAvailable(KeyError):
    """The credential exists but this job may not bind it; the message names the fix."""

    def __init__(self, info: CredentialInfo, job: str, repo_owner: str | None) -> None:
        super().__init__(info.id)
        self.credential_id, self.job = info.id, job
        self.owner, self.repo_owner, self.kind = info.owner, repo_owner, info.kind

    def __str__(self) -> str:
        belongs = f"it belongs to {self.owner!r}" if self.owner else "it is a system credential"
        repo = f"its repository's owner {self.repo_owner!r}" if self.repo_owner else \
            "its repository's owner"
        fix = (f"An administrator can grant it: `dockyard credentials grant {self.credential_id} "
               f"--job {self.job}` (POST /api/ci/credentials/{self.credential_id}/grants "
               f"{{\"job\": \"{self.job}\"}})")
        if self.repo_owner:
            fix += (f", or store the credential in {self.repo_owner!r}'s namespace: "
                    f"`dockyard credentials {_ADD.get(self.kind, 'add-...')} {self.credential_id} "
                    f"--owner {self.repo_owner} ...`")
        return (f"credential {self.credential_id!r} is not available to job {self.job!r}: {belongs}, "
                f"and a job binds only credentials of {repo} or ones granted to it. {fix}")


def resolve_for_job(
    store: CredentialStore, credential_id: str, *, job: str, repo_owner: str | None
) -> Credential:
    """The credential if `job` (whose repository belongs to `repo_owner`, None when the repository
    is not on this Dockyard) may bind it; raises CredentialNotFound or CredentialNotAvailable."""
    info = store.info(credential_id)
    if info is None:
        raise CredentialNotFound(credential_id)
    if not _available(info, job, repo_owner):
        raise CredentialNotAvailable(info, job, repo_owner)
    return store.get(credential_id)


def _available(info: CredentialInfo, job: str, repo_owner: str | None) -> bool:
    if job in info.granted_jobs:
        return True
    return bool(info.owner) and repo_owner is not None and info.owner.lower() == repo_owner.lower()


@dataclass(frozen=True)
class JobCredentials:
    """The credential store as one job sees it: `get(id)` answers only what the job may bind.
    Fits CI's `CredentialLookup` (pod template secret volumes, credentials(), withCredentials,
    gitopsSetImage), so every binding path goes through `resolve_for_job`."""

    store: CredentialStore
    job: str
    repo_owner: str | None

    def get(self, credential_id: str) -> Credential:
        return resolve_for_job(self.store, credential_id, job=self.job, repo_owner=self.repo_owner)


_L = TypeVar("_L")


def job_credentials(lookup: _L, job: str, *, repo_owner: str | None) -> _L | JobCredentials:
    """What a build of `job` may bind: the store seen through `resolve_for_job` (a lookup that
    is not a CredentialStore, such as None or a test's fake, is returned as is)."""
    if isinstance(lookup, CredentialStore):
        return JobCredentials(lookup, job, repo_owner)
    return lookup
