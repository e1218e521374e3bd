"""Which API owns which path, and how large a body each route accepts.

First match wins. JSON APIs take 1 MiB; webhook payloads 25 MiB (GitHub's own cap); Gitea's
contents API carries files base64-encoded in JSON, so it gets the webhook size; job XML (which
may embed a 1 MiB Jenkinsfile, escaped) 4 MiB; manifests the registry's manifest limit; blob
uploads and git packs are streamed to disk by their handlers and pass through unbounded here.
"""

from __future__ import annotations

from dockyard.http import (
    GITEA,
    HARBOR,
    JENKINS,
    JOB_XML_LIMIT,
    JSON_LIMIT,
    NATIVE,
    OCI,
    STREAMED,
    TOKEN,
    WEBHOOK_LIMIT,
    BodyPolicy,
    BodyRule,
    MiB,
)

MANIFEST_LIMIT = 4 * MiB  # registry.manifests.MAX_MANIFEST_BYTES

_JENKINS = r"^/(createItem|crumbIssuer/|queue/|me/|api/json|api/xml|job/)"

RULES = [
    BodyRule(r"^/v2/.+/blobs/uploads(/|$)", STREAMED, OCI),
    BodyRule(r"^/v2(/|$)", MANIFEST_LIMIT, OCI),
    BodyRule(r"^/service/token$", JSON_LIMIT, TOKEN),
    BodyRule(r"^/api/v2\.0/", JSON_LIMIT, HARBOR),
    BodyRule(r"^/api/v1/repos/[^/]+/[^/]+/contents(/|$)", WEBHOOK_LIMIT, GITEA),
    BodyRule(r"^/api/v1(/|$)", JSON_LIMIT, GITEA),
    BodyRule(r"^/api/ci/hooks/", WEBHOOK_LIMIT, NATIVE),
    BodyRule(r"^/api/ci/", JSON_LIMIT, NATIVE),
    BodyRule(r"^/[^/]+/[^/]+/git-(upload|receive)-pack$", STREAMED, GITEA),
    BodyRule(r"^/(createItem$|job/.+/config\.xml$)", JOB_XML_LIMIT, JENKINS),
    BodyRule(_JENKINS, JSON_LIMIT, JENKINS),
]

POLICY = BodyPolicy(RULES, default=BodyRule("", JSON_LIMIT, NATIVE))
