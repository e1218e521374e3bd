"""The few S3 operations the blob store needs, signed with AWS Signature Version 4 over httpx.

boto3 would add ~0.5 s and tens of MB to server start-up for a dozen calls; this is the
documented SigV4 algorithm (path-style addressing, signed payload hash) and nothing else.
Works with any S3-compatible server (AWS, MinIO, versitygw, Ceph RGW, Garage, ...).
Server side only: the builder never imports it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit

import httpx

from dockyard.registry.storage import StorageError

COPY_LIMIT = 5 * (1 << 30)  # CopyObject's largest source; bigger ones copy in parts
COPY_PART = 1 << 30
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
RETRIES = 3
RETRY_DELAY = 0.2  # seconds, doubled on each retry


@dataclass(frozen=True)
class S3Config:
    bucket: str
    prefix: str  # "" or "some/prefix/" (always ends in "/")
    endpoint: str
    region: str
    access_key: str
    secret_key: str
    session_token: str | None = None

    @classmethod
    def from_url(cls, url: str, environ: Mapping[str, str]) -> S3Config:
        """`s3://BUCKET[/prefix]` plus the usual AWS environment variables."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"storage URL {url!r} is not s3://BUCKET[/prefix]")
        access = environ.get("AWS_ACCESS_KEY_ID")
        secret = environ.get("AWS_SECRET_ACCESS_KEY")
        if not access or not secret:
            raise ValueError(
                f"--storage {url} needs credentials: set AWS_ACCESS_KEY_ID and"
                " AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a server other than AWS)"
            )
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        endpoint = (environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
                    or f"https://s3.{region}.amazonaws.com")
        if urlsplit(endpoint).scheme not in ("http", "https"):
            raise ValueError(f"AWS_ENDPOINT_URL {endpoint!r} must be an http(s):// URL")
        prefix = parts.path.strip("/")
        return cls(
            bucket=parts.netloc,
            prefix=prefix + "/" if prefix else "",
            endpoint=endpoint.rstrip("/"),
            region=region,
            access_key=access,
            secret_key=secret,
            session_token=environ.get("AWS_SESSION_TOKEN") or None,
        )


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # without the configured prefix
    size: int
    modified: float


class S3Client:
    """Objects under `config.prefix` in `config.bucket`; keys given to methods are relative."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self.http = httpx.Client(timeout=httpx.Timeout(120.0, connect=10.0))
        self._host = urlsplit(config.endpoint).netloc
        self._base_path = urlsplit(config.endpoint).path.rstrip("/")
        self._keys: tuple[str, bytes] | None = None

    def close(self) -> None:
        self.http.close()

    # signing ----------------------------------------------------------------------------------
    def _signing_key(self, day: str) -> bytes:
        if self._keys is None or self._keys[0] != day:
            key = ("AWS4" + self.config.secret_key).encode()
            for part in (day, self.config.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys = (day, key)
        return self._keys[1]

    def _signed(self, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str],
                body: bytes) -> httpx.Request:
        payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        now = dt.datetime.now(dt.UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        headers = {k.lower(): v.strip() for k, v in headers.items()}
        headers.update({"host": self._host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash})
        if self.config.session_token:
            headers["x-amz-security-token"] = self.config.session_token
        canonical_query = "&".join(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query)
        )
        signed = sorted(h for h in headers if h == "host" or h.startswith("x-amz-") or h == "range")
        canonical = "\n".join([
            method,
            path,
            canonical_query,
            "".join(f"{h}:{headers[h]}\n" for h in signed),
            ";".join(signed),
            payload_hash,
        ])
        scope = f"{amz_date[:8]}/{self.config.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        signature = hmac.new(self._signing_key(amz_date[:8]), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.config.access_key}/{scope},"
            f" SignedHeaders={';'.join(signed)}, Signature={signature}"
        )
        url = f"{self.config.endpoint.split('://')[0]}://{self._host}{path}"
        if canonical_query:
            url += "?" + canonical_query
        headers["accept-encoding"] = "identity"  # blobs are read raw; never let a server gzip them
        return httpx.Request(method, url, headers=headers, content=body)

    def _path(self, key: str | None) -> str:
        """Path-style request path; key None addresses the bucket itself."""
        bucket = f"{self._base_path}/{quote(self.config.bucket, safe='-_.~')}"
        if key is None:
            return bucket
        return f"{bucket}/{quote(self.config.prefix + key, safe='/-_.~')}"

    def request(
        self,
        method: str,
        key: str | None,
        *,
        query: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        stream: bool = False,
        missing_ok: bool = False,
    ) -> httpx.Response | None:
        """One signed request; None for a 404 when `missing_ok`, StorageError for any failure.

        Connection failures and 500/503 (S3's "slow down") are retried a few times: a repeated
        object or part PUT stores the same bytes, a repeated DELETE or GET changes nothing, and
        a multipart upload started twice leaves one that upload expiry aborts.
        """
        for attempt in range(RETRIES + 1):
            request = self._signed(method, self._path(key), query or [], headers or {}, body)
            try:
                response = self.http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt < RETRIES:
                    time.sleep(RETRY_DELAY * 2**attempt)
                    continue
                raise StorageError(f"S3 {method} {self._describe(key)}: {exc}") from None
            if response.status_code < 300:
                return response
            if stream:
                response.read()
            response.close()
            if response.status_code in (500, 503) and attempt < RETRIES:
                time.sleep(RETRY_DELAY * 2**attempt)
                continue
            if response.status_code == 404 and missing_ok:
                return None
            raise StorageError(f"S3 {method} {self._describe(key)}: {_error_text(response)}")
        raise AssertionError("unreachable")

    def _describe(self, key: str | None) -> str:
        return f"s3://{self.config.bucket}/{self.config.prefix}{key or ''} at {self.config.endpoint}"

    # objects --------------------------------------------------------------------------------
    def check_bucket(self) -> None:
        self.request("HEAD", None)

    def put(self, key: str, data: bytes) -> None:
        self.request("PUT", key, body=data)

    def get(self, key: str) -> bytes | None:
        response = self.request("GET", key, missing_ok=True)
        return None if response is None else response.content

    def head(self, key: str) -> ObjectInfo | None:
        response = self.request("HEAD", key, missing_ok=True)
        if response is None:
            return None
        modified = parsedate_to_datetime(response.headers["last-modified"]).timestamp()
        return ObjectInfo(key, int(response.headers["content-length"]), modified)

    def open(self, key: str, offset: int = 0) -> ObjectReader:
        headers = {"range": f"bytes={offset}-"} if offset else {}
        response = self.request("GET", key, headers=headers, stream=True, missing_ok=True)
        if response is None:
            raise FileNotFoundError(self._describe(key))
        return ObjectReader(response)

    def delete(self, key: str) -> None:
        self.request("DELETE", key)

    def list_objects(self, prefix: str, page_size: int = 1000) -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, with ListObjectsV2 pagination."""
        token: str | None = None
        strip = len(self.config.prefix)
        while True:
            query = [("list-type", "2"), ("max-keys", str(page_size)),
                     ("prefix", self.config.prefix + prefix)]
            if token:
                query.append(("continuation-token", token))
            root = self._get_xml(query)
            for fields in _entries(root, "Contents"):
                yield ObjectInfo(fields["Key"][strip:], int(fields["Size"]), _epoch(fields["LastModified"]))
            token = _find(root, "NextContinuationToken")
            if _find(root, "IsTruncated") != "true" or not token:
                return

    def _get_xml(self, query: list[tuple[str, str]]) -> ET.Element:
        """A bucket-level GET (a listing) and its parsed answer."""
        response = self.request("GET", None, query=query)
        assert response is not None
        return _xml(response.content)

    # multipart ------------------------------------------------------------------------------
    def create_multipart(self, key: str) -> str:
        response = self.request("POST", key, query=[("uploads", "")])
        assert response is not None
        upload_id = _find(_xml(response.content), "UploadId")
        if not upload_id:
            raise StorageError(f"S3 CreateMultipartUpload {self._describe(key)} returned no UploadId")
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        response = self.request(
            "PUT", key, query=[("partNumber", str(number)), ("uploadId", upload_id)], body=data
        )
        assert response is not None
        return response.headers["etag"]

    def complete_multipart(self, key: str, upload_id: str, etags: list[str]) -> None:
        body = "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{_escape(etag)}</ETag></Part>"
            for n, etag in enumerate(etags, 1)
        ) + "</CompleteMultipartUpload>"
        response = self.request("POST", key, query=[("uploadId", upload_id)], body=body.encode())
        assert response is not None
        _raise_embedded_error(response, f"S3 CompleteMultipartUpload {self._describe(key)}")

    def list_multipart(self, prefix: str) -> Iterator[tuple[str, str, float]]:
        """(key, upload id, initiated) of every unfinished multipart upload under `prefix`."""
        markers: list[tuple[str, str]] = []
        strip = len(self.config.prefix)
        while True:
            root = self._get_xml([("uploads", ""), ("prefix", self.config.prefix + prefix), *markers])
            for fields in _entries(root, "Upload"):
                yield fields["Key"][strip:], fields["UploadId"], _epoch(fields["Initiated"])
            key_marker, id_marker = _find(root, "NextKeyMarker"), _find(root, "NextUploadIdMarker")
            if _find(root, "IsTruncated") != "true" or not key_marker:
                return
            markers = [("key-marker", key_marker), ("upload-id-marker", id_marker or "")]

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self.request("DELETE", key, query=[("uploadId", upload_id)], missing_ok=True)

    def copy(self, source: str, target: str, size: int) -> None:
        """Server-side copy (in 1 GiB parts above CopyObject's 5 GiB limit)."""
        header = {"x-amz-copy-source": quote(f"/{self.config.bucket}/{self.config.prefix}{source}",
                                             safe="/-_.~")}
        if size <= COPY_LIMIT:
            response = self.request("PUT", target, headers=header)
            assert response is not None
            _raise_embedded_error(response, f"S3 CopyObject to {self._describe(target)}")
            return
        upload_id = self.create_multipart(target)
        try:
            etags: list[str] = []
            for number, start in enumerate(range(0, size, COPY_PART), 1):
                end = min(start + COPY_PART, size) - 1
                response = self.request(
                    "PUT", target, query=[("partNumber", str(number)), ("uploadId", upload_id)],
                    headers={**header, "x-amz-copy-source-range": f"bytes={start}-{end}"},
                )
                assert response is not None
                etag = _find(_xml(response.content), "ETag")
                if not etag:
                    raise StorageError(f"S3 UploadPartCopy to {self._describe(target)} returned no ETag")
                etags.append(etag)
            self.complete_multipart(target, upload_id, etags)
        except BaseException:
            self.abort_multipart(target, upload_id)
            raise


class ObjectReader:
    """A streamed GET read in blocks of the size asked for."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks = response.iter_raw()
        self._buffer = bytearray()

    def read(self, size: int, /) -> bytes:
        while len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
            except httpx.HTTPError as exc:
                raise StorageError(f"S3 read failed: {exc}") from None
        block = bytes(self._buffer[:size])
        del self._buffer[:size]
        return block

    def close(self) -> None:
        self._response.close()


def _tag(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _xml(content: bytes) -> ET.Element:
    try:
        return ET.fromstring(content)
    except ET.ParseError as exc:
        raise StorageError(f"S3 answered with malformed XML: {exc}") from None


def _entries(root: ET.Element, name: str) -> Iterator[dict[str, str]]:
    """The child fields of each `name` element of a listing, by tag."""
    for item in root.iter():
        if _tag(item) == name:
            yield {_tag(child): child.text or "" for child in item}


def _epoch(timestamp: str) -> float:
    """An ISO 8601 time from a listing (`2026-12-07T17:23:00.000Z`) as epoch seconds."""
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _find(root: ET.Element, name: str) -> str | None:
    for element in root.iter():
        if _tag(element) == name:
            return element.text
    return None


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _error_text(response: httpx.Response) -> str:
    try:
        root = ET.fromstring(response.content)
        return f"{response.status_code} {_find(root, 'Code')}: {_find(root, 'Message')}"
    except ET.ParseError:
        return f"{response.status_code} {response.reason_phrase}"


def _raise_embedded_error(response: httpx.Response, what: str) -> None:
    """Copy and complete may fail after answering 200: the error is then the body."""
    if response.content and _tag(_xml(response.content)) == "Error":
        raise StorageError(f"{what}: {_error_text(response)}")

