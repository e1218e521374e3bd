"""Secret masking for logs: a streaming writer that replaces secrets with `****`, even across writes.

A secret is also hidden in the encodings a build is likely to print: base64 (standard and
URL-safe, unpadded so any padding works), URL-encoding (`quote` and `quote_plus`) and JSON string
escaping. For a multi-line secret, each line of 8 or more characters is a secret of its own (a
`cat` of a key file shows it line by line; CI runners split output by line). Values shorter than
`MIN_LENGTH` are not masked: masking `a` or `on` would destroy every log and protect nothing
(Woodpecker makes the same trade-off).

A value over `MAX_WHOLE` bytes (a big secret file) is masked line by line only, so the writer
never holds back more than a line of it.

A one-line value of `MIN_DUMPED` to `_DUMPED_MAX` bytes is also hidden reversed (`rev`), spaced
out (`sed 's/./& /g'`), as hex (lower and upper case, `xxd -p` lines) and as `od -tx1`, `od -c`
and `hexdump -C` print it when it is dumped on its own: they print 16 bytes a line, so each
16-byte slice from its start is hidden in their forms (a tail slice under `MIN_DUMPED` bytes is
left, and so is a short tail in hexdump's text column). Not caught: a dump of the value at another
offset of a longer output, other spacings and encodings, dumps of a multi-line file (each form
costs scanning time on every write). Masking is a courtesy; the credential's scope is the boundary.

The writer keeps back at most `longest secret - 1` bytes, and only while they could still be the
start of a secret, so live logs stay live.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import Protocol
from urllib.parse import quote, quote_plus

MASK = b"****"
MIN_LENGTH = 4
MIN_DUMPED = 6
MAX_WHOLE = 16 * 1024
_DUMPED_MAX = 1024  # a password, token or short key; a file is masked by its lines (cost)
_DUMP_LINE = 16  # bytes per line of od and hexdump -C
_XXD_LINE = 30  # bytes per line of xxd -p
_PREFIX = 64
_FAST_PATH = 2048
_MIN_LINE = 8


class ByteSink(Protocol):
    def write(self, data: bytes, /) -> object: ...


def secret_forms(secret: str | bytes) -> set[bytes]:
    """The byte strings under which `secret` may show up in a log."""
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    # base64 values (docker `auth`) also show up unpadded; a huge file is masked line by line only
    parts = [raw, raw.rstrip(b"=")] if len(raw) <= MAX_WHOLE else []
    if b"\n" in raw.strip():
        parts += [line.strip() for line in raw.splitlines() if len(line.strip()) >= _MIN_LINE]
    forms: set[bytes] = set()
    for part in parts:
        if len(part) < MIN_LENGTH:
            continue
        forms.add(part)
        forms.add(base64.b64encode(part).rstrip(b"="))
        forms.add(base64.urlsafe_b64encode(part).rstrip(b"="))
        try:
            text = part.decode()
        except UnicodeDecodeError:
            continue
        forms.add(quote(text, safe="").encode())
        forms.add(quote(text).encode())
        forms.add(quote_plus(text).encode())
        forms.add(json.dumps(text)[1:-1].encode())
        forms.add(json.dumps(text, ensure_ascii=False)[1:-1].encode())
    value = raw.strip()
    if MIN_DUMPED <= len(value) <= _DUMPED_MAX and b"\n" not in value:
        forms |= _dumped_forms(value)
    return {form for form in forms if len(form) >= MIN_LENGTH}


def _dumped_forms(part: bytes) -> set[bytes]:
    """`part` reversed, spaced out and as the hex dumpers print it (see the module's docstring)."""
    forms = {part[::-1], part.hex().encode(), part.hex().upper().encode()}
    try:
        text = part.decode()
        forms |= {text[::-1].encode(), " ".join(text).encode()}  # `rev` reverses characters
    except UnicodeDecodeError:
        pass
    for i in range(0, len(part), _DUMP_LINE):
        line = part[i : i + _DUMP_LINE]
        if len(line) < MIN_DUMPED:
            continue
        if len(line) == _DUMP_LINE < len(part):
            forms.add(line)  # hexdump -C's text column (a whole line: a short tail is too common)
        forms.add(line.hex(" ").encode())  # od -tx1
        forms.add(f"{line[:8].hex(' ')}  {line[8:].hex(' ')}".rstrip().encode())  # hexdump -C
        if all(32 < c < 127 for c in line):
            forms.add(b"   ".join(bytes([c]) for c in line))  # od -c: 4 columns a character
    for i in range(0, len(part), _XXD_LINE):
        if len(part) - i >= MIN_DUMPED:
            forms.add(part[i : i + _XXD_LINE].hex().encode())
    return forms


class SecretMasker:
    """An immutable set of secret forms with one compiled pattern; share it between writers."""

    def __init__(self, secrets: Iterable[str | bytes] = ()) -> None:
        self.secrets = tuple(secrets)
        forms: set[bytes] = set()
        for secret in self.secrets:
            forms |= secret_forms(secret)
        self.forms = sorted(forms, key=lambda f: (-len(f), f))
        self.longest = len(self.forms[0]) if self.forms else 0
        self._pattern = re.compile(b"|".join(re.escape(f) for f in self.forms)) if self.forms else None
        self._by_first: dict[int, list[bytes]] = {}
        for form in self.forms:
            self._by_first.setdefault(form[0], []).append(form)
        firsts = b"".join(re.escape(bytes([c])) for c in sorted(self._by_first))
        self._first_byte = re.compile(b"[" + firsts + b"]") if firsts else None
        # proper prefixes (up to _PREFIX bytes) of every form: one set lookup per candidate position
        self._prefixes = {f[:k] for f in self.forms for k in range(1, min(len(f), _PREFIX + 1))}

    def with_secrets(self, secrets: Iterable[str | bytes]) -> SecretMasker:
        """A new masker that also hides `secrets` (e.g. when `withCredentials` binds more)."""
        return SecretMasker([*self.secrets, *secrets])

    def mask(self, data: bytes) -> bytes:
        """Mask a complete byte string."""
        if self._pattern is None:
            return data
        return self._pattern.sub(MASK, data)

    def mask_text(self, value: str) -> str:
        return self.mask(value.encode()).decode(errors="replace")

    def writer(self, sink: ByteSink | Callable[[bytes], object]) -> MaskingWriter:
        return MaskingWriter(sink, self)

    def process(self, buf: bytes, final: bool) -> tuple[bytes, bytes]:
        """Split `buf` into (masked bytes safe to emit, bytes to keep back for the next write)."""
        if self._pattern is None:
            return buf, b""
        if final:
            return self._pattern.sub(MASK, buf), b""
        out: list[bytes] = []
        pos = 0
        # A match is final once the longest secret starting at its position fits in `buf`.
        settled = len(buf) - self.longest + 1
        if len(buf) > _FAST_PATH and not any(form in buf for form in self.forms):  # memmem beats re
            hold = self._hold_from(buf, max(0, settled))
            return buf[:hold], buf[hold:]
        for match in self._pattern.finditer(buf):
            if match.start() >= settled:
                hold = min(match.start(), self._hold_from(buf, max(pos, settled)))
                out.append(buf[pos:hold])
                return b"".join(out), buf[hold:]
            out.append(buf[pos : match.start()])
            out.append(MASK)
            pos = match.end()
        hold = self._hold_from(buf, max(pos, settled))
        out.append(buf[pos:hold])
        return b"".join(out), buf[hold:]

    def _hold_from(self, buf: bytes, start: int) -> int:
        """The first index >= start where the rest of `buf` could begin a secret."""
        assert self._first_byte is not None
        for candidate in self._first_byte.finditer(buf, start):
            i = candidate.start()
            rest = buf[i:]
            if len(rest) <= _PREFIX:
                if rest in self._prefixes:
                    return i
            elif rest[:_PREFIX] in self._prefixes and any(
                len(form) > len(rest) and form.startswith(rest) for form in self._by_first[rest[0]]
            ):
                return i
        return len(buf)


class MaskingWriter:
    """Write bytes (or str) through a `SecretMasker` to a sink; `close()` releases the held tail.

    `flush()` flushes the sink but keeps the tail back (it may be half a secret); call `close()`
    (or `drain()`) when the stream ends. Thread-safe: steps running in parallel may share one.
    """

    def __init__(self, sink: ByteSink | Callable[[bytes], object], masker: SecretMasker) -> None:
        self._write = sink.write if hasattr(sink, "write") else sink
        self._sink = sink
        self.masker = masker
        self._tail = b""
        self._lock = threading.Lock()
        self.closed = False

    def add_secrets(self, secrets: Iterable[str | bytes]) -> None:
        """Also hide these from now on (e.g. a credential bound mid-build)."""
        with self._lock:
            self.masker = self.masker.with_secrets(secrets)

    def write(self, data: bytes | str) -> int:
        if isinstance(data, str):
            data = data.encode()
        if self.closed:
            raise ValueError("write to a closed MaskingWriter")
        with self._lock:
            ready, self._tail = self.masker.process(self._tail + data, final=False)
            if ready:
                self._write(ready)
        return len(data)

    def drain(self) -> None:
        """Emit the held tail, masked (end of a stream)."""
        with self._lock:
            ready, self._tail = self.masker.process(self._tail, final=True)
            if ready:
                self._write(ready)

    def flush(self) -> None:
        flush = getattr(self._sink, "flush", None)
        if callable(flush):
            flush()

    def close(self) -> None:
        if not self.closed:
            self.drain()
            self.flush()
            self.closed = True

    def __enter__(self) -> MaskingWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
