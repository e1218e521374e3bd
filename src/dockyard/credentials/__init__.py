"""Credentials: a store of secrets encrypted at rest, projected into builds and masked in every log.

Public API (import from `dockyard.credentials` only):

Typed credentials (frozen dataclasses; `repr` never shows the secret; `data()` gives the
Kubernetes Secret data keys, `mask_values()` what a log must never show):
    UsernamePassword(id, username=..., password=..., description="")   data: username, password
    SecretText(id, text=..., description="")                            data: text
    DockerConfig(id, config_json=..., description="")                   data: .dockerconfigjson
    DockerConfig.for_registry(id, server, username, password, email="") the kubectl docker-registry shape
        .auths() -> {server: {...}}, .login_for(server) -> (user, password) | None
    SecretFile(id, filename=..., content=b"...", description="")       data: {filename: content}
    Credential (base class), CredentialError (bad input, message names the fix), KINDS

Store (shared DB, AES-256-GCM, key DATA/secrets/credentials.key 0600; `dockyard up` first runs
dockyard.credentials.keycheck.check_key_file: a missing or other key file is KeyFileError, naming it):
    store = CredentialStore.open(db, settings.secrets_dir)
    store.put(credential, created_by="admin", replace=False) -> CredentialInfo
    store.get(id) -> Credential                   raises CredentialNotFound (message names the id)
    store.info(id) -> CredentialInfo | None;  store.list() -> [CredentialInfo];  store.delete(id) -> bool
    store.mask_values() -> [str]                  every stored secret, for a global log masker
    store.put(..., owner="alice")                 '' = system (admins), else a user or org namespace
    store.grant(id, job, granted_by=...) / store.revoke(id, job)

Scope (which job may bind what; see dockyard.credentials.scope):
    resolve_for_job(store, id, job=..., repo_owner=...) -> Credential
        raises CredentialNotFound or CredentialNotAvailable ("credential 'X' is not available to
        job 'Y' ...", naming the grant command)
    job_credentials(store, job, repo_owner=...) -> JobCredentials (.get(id))
        a job binds its repository owner's credentials and granted ones, nothing else
    MIGRATIONS                                    (listed in server.app.all_migrations)

Sealing other components' secrets with the same key (CI job XML, password parameters):
    box = SecretBox(load_or_create_key(settings.secrets_dir)); box.seal(bytes, context) -> str;
    box.open(token, context, box.fingerprint) -> bytes (KeyMismatch on another key or a moved row)

Builds:
    bind_environment(credential, "VAR", files_dir) -> {"VAR": ..., "VAR_USR": ..., "VAR_PSW": ...}
        Jenkins credentials('id') semantics; files (secret_file, docker_config) written 0600 under files_dir
    materialize_secret_volume(credential, items, target_dir) -> [Path]
        items = [{"key": ".dockerconfigjson", "path": "config.json"}] or None (all keys); files 0600
    masker = SecretMasker(secrets)                mask(bytes), mask_text(str), with_secrets([...])
    writer = MaskingWriter(sink, masker)          write(bytes|str), flush(), close()/drain(), add_secrets()
        sink: anything with .write(bytes) or a callable; a secret split across writes is still masked.

HTTP (JSON): GET/POST /api/ci/credentials, GET/PUT/DELETE /api/ci/credentials/{id},
POST /api/ci/credentials/{id}/grants, DELETE /api/ci/credentials/{id}/grants/{job}; administrators
manage every credential, a user those of their own namespace and of orgs they administer;
listing never returns secrets. See `dockyard.credentials.api`.
"""

from typing import TYPE_CHECKING

from dockyard.credentials.bindings import bind_environment
from dockyard.credentials.crypto import KeyMismatch, SecretBox, load_or_create_key
from dockyard.credentials.keycheck import KeyFileError, check_key_file
from dockyard.credentials.masking import MASK, MaskingWriter, SecretMasker, secret_forms
from dockyard.credentials.migrations import MIGRATIONS
from dockyard.credentials.models import (
    DOCKERCONFIGJSON,
    KINDS,
    Credential,
    CredentialError,
    DockerConfig,
    SecretFile,
    SecretText,
    UsernamePassword,
)
from dockyard.credentials.scope import (
    CredentialNotAvailable,
    JobCredentials,
    job_credentials,
    resolve_for_job,
)
from dockyard.credentials.store import CredentialExists, CredentialInfo, CredentialNotFound, CredentialStore
from dockyard.credentials.volume import materialize_secret_volume
from dockyard.lazyimport import lazy_exports

__all__ = [
    "DOCKERCONFIGJSON",
    "KINDS",
    "MASK",
    "MIGRATIONS",
    "Credential",
    "CredentialError",
    "CredentialExists",
    "CredentialInfo",
    "CredentialNotAvailable",
    "CredentialNotFound",
    "CredentialStore",
    "CredentialsComponent",
    "DockerConfig",
    "JobCredentials",
    "KeyFileError",
    "KeyMismatch",
    "MaskingWriter",
    "SecretFile",
    "SecretBox",
    "SecretMasker",
    "SecretText",
    "UsernamePassword",
    "bind_environment",
    "check_key_file",
    "load_or_create_key",
    "job_credentials",
    "materialize_secret_volume",
    "resolve_for_job",
    "secret_forms",
]

if TYPE_CHECKING:
    from dockyard.credentials.component import CredentialsComponent


# `CredentialsComponent` (the store plus its HTTP API) loads Starlette: on first use only.
__getattr__ = lazy_exports(__name__, {"CredentialsComponent": "dockyard.credentials.component"})
