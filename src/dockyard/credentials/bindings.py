"""Jenkins `credentials('id')` semantics: which environment variables a credential binds.

    username_password  X=user:password, X_USR=user, X_PSW=password
    secret_text        X=the text
    secret_file        X=path of a 0600 copy of the file
    docker_config      X=path of a 0600 `config.json` (its directory works as DOCKER_CONFIG)

Files go under `files_dir` (the build's private temp dir, removed with the build).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from dockyard.credentials.models import (
    DOCKERCONFIGJSON,
    Credential,
    CredentialError,
    DockerConfig,
    SecretFile,
    SecretText,
    UsernamePassword,
)
from dockyard.credentials.volume import materialize_secret_volume

_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def bind_environment(credential: Credential, variable: str, files_dir: Path) -> dict[str, str]:
    """The variables `VAR = credentials('id')` sets in a Jenkinsfile `environment` block."""
    if not _VARIABLE.match(variable):
        raise CredentialError(
            f"invalid environment variable name {variable!r} for credential {credential.id!r}"
        )
    if isinstance(credential, UsernamePassword):
        return {
            variable: f"{credential.username}:{credential.password}",
            f"{variable}_USR": credential.username,
            f"{variable}_PSW": credential.password,
        }
    if isinstance(credential, SecretText):
        return {variable: credential.text}
    target = Path(files_dir) / f"{credential.id}-{secrets.token_hex(4)}"
    if isinstance(credential, SecretFile):
        (path,) = materialize_secret_volume(credential, None, target)
        return {variable: str(path)}
    if isinstance(credential, DockerConfig):
        (path,) = materialize_secret_volume(
            credential, [{"key": DOCKERCONFIGJSON, "path": "config.json"}], target
        )
        return {variable: str(path)}
    raise CredentialError(f"credential {credential.id!r} of kind {credential.kind!r} cannot be bound")
