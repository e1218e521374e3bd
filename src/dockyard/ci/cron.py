"""Jenkins' cron syntax, exactly: `hudson.scheduler.CronTab`/`CronTabList` and their parser.

Five fields (minute hour day-of-month month day-of-week), each a comma list of terms: `N`,
`A-B`, `A-B/S`, `*`, `*/S`, `H`, `H/S`, `H(A-B)`, `H(A-B)/S`; the tokens `@yearly`, `@annually`,
`@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly` (which Jenkins spreads with `H`);
several lines (a time matches when one line matches), `#` comments and blank lines, and a
`TZ=Zone/Name` first line. As in Jenkins all five fields must match (day of month AND day of
week, unlike Vixie cron), and 7 is Sunday as 0 is.

`H` is a stable pseudo-random value per job: Jenkins seeds `java.util.Random` with the MD5 of the
job's full name folded to 64 bits (`hudson.scheduler.Hash.from`) and draws one `nextInt(n)` per
`H`, left to right, across all lines of the spec. `_JavaRandom` reproduces Java's generator bit
for bit, so a job gets the same minute here as on Jenkins.

Errors are `CronError` with Jenkins' wording (`Invalid input: "61 * * * *": line 1:0: 61 is an
invalid value. Must be within 0 and 59`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["MAX_SPEC_CHARS", "CronError", "CronSpec", "CronTab", "jenkins_hash", "parse_cron"]

LOWER = (0, 0, 1, 1, 0)
UPPER = (59, 23, 31, 12, 7)
FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
NO_STEP = 1
# A spec is a handful of lines in practice; the cap keeps a hostile one from costing anything.
MAX_SPEC_CHARS = 4096
MAX_SPEC_LINES = 100
_TOKENS = {
    "yearly": "H H H H *",
    "annually": "H H H H *",
    "monthly": "H H H * *",
    "weekly": "H H * * H",
    "daily": "H H * * *",
    "midnight": "H H(0-2) * * *",
    "hourly": "H * * * *",
}
_LEX = re.compile(
    r"(?P<num>[0-9]+)|(?P<ws>[ \t]+)|(?P<op>[-*/,@H()])"
    r"|(?P<word>yearly|annually|monthly|weekly|daily|midnight|hourly)"
)
_ZONE = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")


class CronError(ValueError):
    """A spec Jenkins would refuse; `str()` is Jenkins' message."""


class _JavaRandom:
    """`java.util.Random`: a 48-bit linear congruential generator."""

    _MULT, _ADD, _MASK = 0x5DEECE66D, 0xB, (1 << 48) - 1

    def __init__(self, seed: int) -> None:
        self.seed = (seed ^ self._MULT) & self._MASK

    def _next(self, bits: int) -> int:
        self.seed = (self.seed * self._MULT + self._ADD) & self._MASK
        return self.seed >> (48 - bits)  # bits <= 31: always a non-negative Java int

    def next_int(self, bound: int) -> int:
        r = self._next(31)
        m = bound - 1
        if bound & m == 0:  # a power of two
            return (bound * r) >> 31
        u = r
        while True:
            r = u % bound
            if _int32(u - r + m) >= 0:  # Java's int overflow rejects the biased tail
                return r
            u = self._next(31)


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


class Hash:
    """`hudson.scheduler.Hash`: `next(n)` in [0, n), a stable sequence per seed."""

    def __init__(self, rnd: _JavaRandom | None) -> None:
        self._rnd = rnd

    def next(self, n: int) -> int:
        return self._rnd.next_int(n) if self._rnd else 0


def jenkins_hash(seed: str | None) -> Hash:
    """`Hash.from(seed)` (the job's full name), or `Hash.zero()` for None."""
    if seed is None:
        return Hash(None)
    digest = bytearray(hashlib.md5(seed.encode(), usedforsecurity=False).digest())
    for i in range(8, len(digest)):
        digest[i % 8] ^= digest[i]
    value = 0
    for b in digest[:8]:
        value = (value << 8) + b
    return Hash(_JavaRandom(value))


@dataclass(frozen=True)
class CronTab:
    """One line: bit masks of the minutes, hours, days, months and weekdays it matches."""

    minutes: int
    hours: int
    days: int
    months: int
    weekdays: int  # bit 0 = Sunday (7 folded onto 0)
    spec: str

    def matches(self, t: datetime) -> bool:
        return bool(
            self.minutes >> t.minute & 1
            and self.hours >> t.hour & 1
            and self.days >> t.day & 1
            and self.months >> t.month & 1
            and self.weekdays >> ((t.weekday() + 1) % 7) & 1
        )


@dataclass(frozen=True)
class CronSpec:
    """A whole spec (`CronTabList`): its lines and the `TZ=` zone (None: the server's)."""

    tabs: tuple[CronTab, ...]
    zone: str | None = None

    def matches(self, t: datetime) -> bool:
        """Whether the minute of `t` (an aware datetime) is scheduled."""
        local = t.astimezone(self.tz)
        return any(tab.matches(local) for tab in self.tabs)

    @property
    def tz(self) -> tzinfo | None:
        return ZoneInfo(self.zone) if self.zone else None


def parse_cron(spec: str, seed: str | None = None) -> CronSpec:
    """Parse a trigger spec as Jenkins does, `H` seeded with `seed` (the job's full name)."""
    if len(spec) > MAX_SPEC_CHARS:
        raise CronError(f"the spec is {len(spec)} characters long; at most {MAX_SPEC_CHARS} are allowed")
    lines = re.split(r"\r?\n", spec)
    if len(lines) > MAX_SPEC_LINES:
        raise CronError(f"the spec has {len(lines)} lines; at most {MAX_SPEC_LINES} are allowed")
    hash_ = jenkins_hash(seed)
    tabs: list[CronTab] = []
    zone: str | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if number == 1 and line.startswith("TZ="):
            zone = _zone(line[3:])
            continue
        if not line or line.startswith("#"):
            continue
        try:
            tabs.append(_Line(line, number, hash_).parse())
        except CronError as e:
            raise CronError(f'Invalid input: "{line}": {e}') from None
    return CronSpec(tuple(tabs), zone)


def _zone(name: str) -> str:
    try:
        if not _ZONE.fullmatch(name) or ".." in name:
            raise ValueError(name)
        ZoneInfo(name)
    except (ValueError, OSError, ZoneInfoNotFoundError):  # OSError: a zone directory (Europe), a long name
        raise CronError(f"Invalid or unsupported timezone '{name}'") from None
    return name


@dataclass
class _Tok:
    kind: str  # num | ws | word | op | eof
    text: str
    col: int


class _Line:
    """Recursive descent over one line, following CrontabParser.g4 (actions left to right)."""

    def __init__(self, line: str, number: int, hash_: Hash) -> None:
        self.line, self.number, self.hash = line, number, hash_
        self.toks = self._lex(line)
        self.k = 0

    def _lex(self, line: str) -> list[_Tok]:
        out, col = [], 0
        while col < len(line):
            m = _LEX.match(line, col)
            if m is None:
                self._fail(f"token recognition error at: '{line[col]}'", col)
            assert m is not None and m.lastgroup is not None
            out.append(_Tok(m.lastgroup, m.group(), col))
            col = m.end()
        out.append(_Tok("eof", "<EOF>", len(line)))
        return out

    def _fail(self, message: str, col: int | None = None) -> None:
        raise CronError(f"line {self.number}:{self.tok.col if col is None else col}: {message}")

    @property
    def tok(self) -> _Tok:
        return self.toks[self.k]

    def _accept(self, text: str) -> bool:
        if self.tok.kind == "op" and self.tok.text == text:
            self.k += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        if not self._accept(text):
            self._fail(f"mismatched input '{self.tok.text}' expecting '{text}'")

    def parse(self) -> CronTab:
        if self._accept("@"):
            word = self.tok
            if word.kind != "word" or self.toks[self.k + 1].kind != "eof":
                self._fail(
                    f"unknown token '@{word.text}' (use @yearly, @annually, @monthly, @weekly, @daily,"
                    " @midnight or @hourly)"
                )
            return _Line(_TOKENS[word.text], self.number, self.hash).parse()
        bits = []
        for field in range(5):
            if field:
                if self.tok.kind != "ws":
                    self._fail(
                        f"expected 5 fields (minute hour day-of-month month day-of-week), found {field}"
                        if self.tok.kind == "eof"
                        else f"mismatched input '{self.tok.text}' expecting a space before the"
                        f" {FIELD_NAMES[field]}"
                    )
                self.k += 1
            bits.append(self._expr(field))
        if self.tok.kind != "eof":
            self._fail(
                "expected 5 fields (minute hour day-of-month month day-of-week), found more"
                if self.tok.kind == "ws"
                else f"extraneous input '{self.tok.text}' expecting <EOF>"
            )
        weekdays = bits[4]
        if weekdays >> 7 & 1:
            weekdays = (weekdays | 1) & ~(1 << 7)
        return CronTab(bits[0], bits[1], bits[2], bits[3], weekdays, self.line)

    def _expr(self, field: int) -> int:
        bits = self._term(field)
        while self._accept(","):
            bits |= self._term(field)
        return bits

    def _number(self) -> int:
        if self.tok.kind != "num":
            self._fail(f"mismatched input '{self.tok.text}' expecting a number")
        value = int(self.tok.text) if len(self.tok.text) <= 9 else 1 << 31
        self.k += 1
        return value

    def _step(self) -> int:
        return self._number() if self._accept("/") else NO_STEP

    def _term(self, field: int) -> int:
        col = self.tok.col
        if self.tok.kind == "num":
            start = self._number()
            if self._accept("-"):
                end = self._number()
                return self._range(start, end, self._step(), field, col)
            self._check(start, field, col)
            return 1 << start
        if self._accept("*"):
            return self._range(LOWER[field], UPPER[field], self._step(), field, col)
        if self._accept("H"):
            if self._accept("("):
                start = self._number()
                self._expect("-")
                end = self._number()
                self._expect(")")
                return self._hash(start, end, self._step(), field, col)
            upper = {2: 28, 4: 6}.get(field, UPPER[field])
            return self._hash(LOWER[field], upper, self._step(), field, col)
        self._fail(
            f"mismatched input '{self.tok.text}' expecting a number, '*' or 'H' in the {FIELD_NAMES[field]}"
        )
        raise AssertionError

    def _check(self, value: int, field: int, col: int) -> None:
        if not LOWER[field] <= value <= UPPER[field]:
            self._fail(f"{value} is an invalid value. Must be within {LOWER[field]} and {UPPER[field]}", col)

    def _range(self, start: int, end: int, step: int, field: int, col: int) -> int:
        self._check(start, field, col)
        self._check(end, field, col)
        if step <= 0:
            self._fail(f"step must be positive, but found {step}", col)
        if start > end:
            self._fail(f"You mean {end}-{start}?", col)
        bits = 0
        for i in range(start, end + 1, step):
            bits |= 1 << i
        return bits

    def _hash(self, start: int, end: int, step: int, field: int, col: int) -> int:
        self._check(start, field, col)
        self._check(end, field, col)
        if start > end:  # Jenkins says "1 is an invalid value. Must be within 1 and -39" here
            self._fail(f"H({start}-{end}) is reversed: you mean H({end}-{start})?", col)
        if step <= 0:
            self._fail(f"step must be positive, but found {step}", col)
        if step > end - start + 1:
            self._fail(f"{step} is an invalid value. Must be within 1 and {end - start + 1}", col)
        if step > 1:
            bits = 0
            for i in range(self.hash.next(step) + start, end + 1, step):
                bits |= 1 << i
            return bits
        return 1 << (start + self.hash.next(end + 1 - start))
