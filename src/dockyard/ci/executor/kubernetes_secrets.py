"""Secrets between Dockyard's credential store and the build namespace.

Pod templates name Kubernetes Secrets, and the cluster mounts them: `kubectl create secret
docker-registry harbor-auth` works unchanged, `items` included. In the other direction:

- `credentials('id')` / `withCredentials` of a build on Kubernetes resolve to the Secret `id` of
  the build namespace when Dockyard has no credential with that id (`SecretLookup`). A Secret's
  data keys are what Dockyard's own credential kinds hold, so the binding follows from them:
  `username` + `password` (type `kubernetes.io/basic-auth`) -> username/password (`VAR` =
  `user:pass`, `VAR_USR`, `VAR_PSW`; `usernamePassword(...)`); only `text` -> secret text;
  anything else (`.dockerconfigjson`, `ssh-privatekey`, ...) -> a file holding the first key's
  value. Secrets labelled as the Jenkins Kubernetes Credentials Provider does
  (`jenkins.io/credentials-type`: `secretText`, `usernamePassword`, `secretFile` with `filename`
  and `data`) bind the same way they do on Jenkins.
- an imagePullSecret made from a docker-registry credential of Dockyard's store
  (`DOCKYARD_K8S_PULL_CREDENTIAL`), owned by the build pod so the cluster deletes it with the pod.
"""

from __future__ import annotations

import base64
from typing import Any

from dockyard.ci.executor.interface import ExecutorError
from dockyard.ci.executor.kubernetes_client import KubeClient, api_message, api_status

DOCKERCONFIGJSON = ".dockerconfigjson"
CREDENTIALS_TYPE_LABEL = "jenkins.io/credentials-type"


class KubernetesSecret:
    """A Secret's data as a credential (`CredentialLike`)."""

    def __init__(self, data: dict[str, bytes]) -> None:
        self._data = data

    def data(self) -> dict[str, bytes]:
        return dict(self._data)

    def mask_values(self) -> list[str]:
        return [v.decode(errors="replace") for v in self._data.values() if v]


def secret_data(secret: Any) -> dict[str, bytes]:
    """The Secret's data decoded, shaped by the Jenkins credentials-provider label if it has one."""
    raw = {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
    labels = (secret.metadata.labels or {}) if secret.metadata else {}
    kind = labels.get(CREDENTIALS_TYPE_LABEL, "")
    if kind == "secretText" and "text" in raw:
        return {"text": raw["text"]}
    if kind == "usernamePassword" and {"username", "password"} <= set(raw):
        return {"username": raw["username"], "password": raw["password"]}
    if kind == "secretFile" and "data" in raw:
        name = raw.get("filename", b"secret").decode(errors="replace") or "secret"
        return {name: raw["data"]}
    return raw


class SecretLookup:
    """A `CredentialLookup`: Dockyard's store first, then the build namespace's Secrets read when
    the build's pod was set up (`secrets`: the ones the pipeline names that Dockyard lacks), so a
    lookup never waits on the API server."""

    def __init__(self, first: Any, secrets: dict[str, KubernetesSecret], namespace: str) -> None:
        self.first, self.secrets, self.namespace = first, secrets, namespace

    def get(self, credential_id: str) -> Any:
        from dockyard.credentials import CredentialNotAvailable

        try:
            if self.first is None:
                raise KeyError(credential_id)
            return self.first.get(credential_id)
        except CredentialNotAvailable:
            raise  # it exists in Dockyard for other jobs: the store's message names the fix
        except KeyError:
            if credential_id in self.secrets:
                return self.secrets[credential_id]
            raise KeyError(
                f"no credential with id {credential_id!r} in Dockyard, and no Secret of that name in"
                f" namespace {self.namespace}"
            ) from None

    def mask_values(self) -> list[str]:
        values = getattr(self.first, "mask_values", None)
        return list(values()) if callable(values) else []


async def read_secrets(kube: KubeClient, first: Any, ids: list[str]) -> dict[str, KubernetesSecret]:
    """The Secrets named `ids` that Dockyard's store (`first`) does not have."""
    from dockyard.credentials import CredentialNotAvailable

    found: dict[str, KubernetesSecret] = {}
    for cid in ids:
        if first is not None:
            try:
                await kube.run(first.get, cid)
                continue
            except CredentialNotAvailable:
                continue
            except KeyError:
                pass
        try:
            secret = await kube.call("read_namespaced_secret", cid, kube.namespace)
        except Exception as e:
            if api_status(e) in (403, 404):
                continue  # the lookup's own error names the id when a step asks for it
            raise ExecutorError(f"reading Secret {cid!r}: {api_message(e)}") from None
        found[cid] = KubernetesSecret(secret_data(secret))
    return found


def pull_secret_manifest(name: str, credential: Any, credential_id: str) -> dict[str, Any]:
    """A `kubernetes.io/dockerconfigjson` Secret from a docker-registry credential."""
    data = credential.data()
    if DOCKERCONFIGJSON not in data:
        raise ExecutorError(
            f"DOCKYARD_K8S_PULL_CREDENTIAL {credential_id!r} is not a docker-registry credential"
            " (add one with `dockyard credentials add-docker-registry`)"
        )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": name},
        "data": {DOCKERCONFIGJSON: base64.b64encode(data[DOCKERCONFIGJSON]).decode()},
    }


async def own_by_pod(kube: KubeClient, secret: str, pod: Any) -> None:
    """Makes the pod the Secret's owner, so garbage collection deletes it with the pod."""
    ref = {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid}
    try:
        await kube.call("patch_namespaced_secret", secret, kube.namespace,
                        {"metadata": {"ownerReferences": [ref]}})
    except Exception as e:
        if api_status(e) != 404:
            why = api_message(e)
            raise ExecutorError(f"cannot hand the pull secret {secret} to the pod: {why}") from None
