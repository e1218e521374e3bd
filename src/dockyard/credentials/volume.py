"""Project a credential into a directory the way a Kubernetes `secret` volume does, `items` included.

`items: [{key: .dockerconfigjson, path: config.json}]` is the tutorial's Kaniko setup; without
`items` every data key becomes a file of that name. Paths are relative, may have sub-directories,
and never escape the target directory (Kubernetes rejects `..` and absolute paths the same way).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from dockyard.credentials.models import Credential, CredentialError
from dockyard.store import atomic_write_bytes

DEFAULT_MODE = 0o600


def materialize_secret_volume(
    credential: Credential,
    items: Sequence[Mapping[str, Any]] | None,
    target_dir: Path,
    *,
    default_mode: int = DEFAULT_MODE,
) -> list[Path]:
    """Write the credential's data keys (or just `items`, key -> path) under `target_dir`, 0600.

    An item's own `mode` (as in a pod spec) wins over `default_mode`. A key the credential lacks
    is an error naming the key, the credential and the keys it has. Returns the files written.
    """
    data = credential.data()
    if items is None:
        plan = [(key, key, default_mode) for key in data]
    else:
        plan = []
        for index, item in enumerate(items):
            key = item.get("key")
            if not isinstance(key, str) or not key:
                raise CredentialError(f"secret volume items[{index}] needs a 'key'")
            if key not in data:
                raise CredentialError(
                    f"secret {credential.id!r} ({credential.kind}) has no key {key!r}; "
                    f"its keys are: {', '.join(sorted(data))}"
                )
            path = item.get("path", key)
            mode = item.get("mode", default_mode)
            if not isinstance(mode, int) or not 0 <= mode <= 0o777:
                raise CredentialError(f"secret volume items[{index}].mode must be an octal file mode")
            plan.append((key, str(path), mode))
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for key, rel, mode in plan:
        dest = target_dir / _safe_relative(rel)
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_bytes(dest, data[key], mode=mode)
        os.chmod(dest, mode)
        written.append(dest)
    return written


def _safe_relative(path: str) -> PurePosixPath:
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or str(pure) in (".", ""):
        raise CredentialError(
            f"secret volume item path {path!r} must be relative and must not contain '..' (e.g. config.json)"
        )
    return pure
