"""The one HTTP toolkit every API uses: bounded bodies, strict content types, typed fields and
each wire format's error shape (imports only `auth`). `fields` holds the typed field readers and
Gitea's and Harbor's length limits."""

from typing import TYPE_CHECKING

from dockyard.http import fields
from dockyard.http.body import (
    JOB_XML_LIMIT,
    JSON_LIMIT,
    MAX_DEPTH,
    WEBHOOK_LIMIT,
    KiB,
    MiB,
    form_body,
    json_body,
    json_object,
    media_type,
    parse_json,
    read_body,
    require_json_type,
    type_name,
)
from dockyard.http.errors import (
    GITEA,
    HARBOR,
    INTERNAL,
    INVALID,
    JENKINS,
    NATIVE,
    OCI,
    TOKEN,
    TOO_LARGE,
    UNSUPPORTED_TYPE,
    BadRequest,
    WireFormat,
    jenkins_error,
    too_large,
)
from dockyard.http.hostmatch import (
    SETTING as ALLOWED_HOSTS_SETTING,
)
from dockyard.http.hostmatch import (
    HostMatchList,
    IPAddress,
    canonical,
    parse_address,
    resolve_allowed,
)
from dockyard.http.middleware import (
    STREAMED,
    BodyPolicy,
    BodyRule,
    BoundedBodyMiddleware,
    render_bad_request,
    render_internal_error,
    wire_of,
)
from dockyard.http.principal import authenticate, principal_of
from dockyard.http.routing import bound_int_path_params, small_int
from dockyard.lazyimport import lazy_exports

__all__ = [
    "GITEA", "HARBOR", "INTERNAL", "INVALID", "JENKINS", "JOB_XML_LIMIT", "JSON_LIMIT", "MAX_DEPTH",
    "NATIVE", "OCI", "STREAMED", "TOKEN", "TOO_LARGE", "UNSUPPORTED_TYPE", "WEBHOOK_LIMIT",
    "BadRequest", "BodyPolicy", "BodyRule", "BoundedBodyMiddleware", "KiB", "MiB", "WireFormat",
    "authenticate", "bound_int_path_params", "fields",
    "ALLOWED_HOSTS_SETTING", "HostMatchList", "IPAddress", "canonical", "parse_address", "resolve_allowed",
    "form_body", "jenkins_error", "json_body", "json_object", "media_type",
    "parse_json", "principal_of", "read_body", "render_bad_request", "render_internal_error",
    "require_json_type", "small_int", "BoundedHeadProtocol", "too_large", "type_name", "wire_of",
]

if TYPE_CHECKING:
    from dockyard.http.head import BoundedHeadProtocol


# `BoundedHeadProtocol` subclasses uvicorn's protocol: loaded by `dockyard up` only.
__getattr__ = lazy_exports(__name__, {"BoundedHeadProtocol": "dockyard.http.head"})
