"""The methods the Groovy subset offers on its values (String, List, Map, Number, caught errors),
by name. The parser refuses any method not listed here; each one checks its receiver's type at
run time and keeps results within the string and list bounds."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from dockyard.ci.errors import Pos
from dockyard.ci.groovy.operators import arith
from dockyard.ci.groovy.values import (
    MAX_ITEMS,
    MAX_STRING,
    ClosureValue,
    ErrorValue,
    GroovyError,
    LimitExceeded,
    MapEntry,
    compare,
    equal,
    to_string,
    truth,
    type_name,
)

# functions callable by name besides steps
FUNCTIONS = frozenset(
    {"credentials", "println", "isUnix", "parallel", "usernamePassword", "string", "file",
     "usernameColonPassword", "booleanParam", "choice", "text"}  # fmt: skip
)


class Runtime(Protocol):
    async def call(self, fn: Any, args: list[Any], pos: Pos) -> Any: ...
    def arity(self, fn: Any) -> int: ...
    def tick(self, pos: Pos) -> None: ...
    def charge(self, units: int, pos: Pos) -> None: ...


Method = Callable[[Runtime, Any, list[Any], Pos], Awaitable[Any]]
METHODS: dict[str, Method] = {}


def method(*names: str) -> Callable[[Method], Method]:
    def register(fn: Method) -> Method:
        for n in names:
            METHODS[n] = fn
        return fn

    return register


def bad(recv: Any, name: str, pos: Pos) -> GroovyError:
    return GroovyError(
        f"No signature of method: {type_name(recv)}.{name}() for these arguments",
        pos,
        "groovy.lang.MissingMethodException",
    )


def argn(args: list[Any], n: int, name: str, pos: Pos) -> None:
    if len(args) != n:
        raise GroovyError(f"{name}() takes {n} argument(s), got {len(args)}", pos)


def checked_str(rt: Runtime, s: str, pos: Pos) -> str:
    if len(s) > MAX_STRING:
        raise LimitExceeded(f"a string would be longer than {MAX_STRING} characters", pos)
    rt.charge(len(s), pos)
    return s


def checked_list(rt: Runtime, items: list[Any], pos: Pos) -> list[Any]:
    if len(items) > MAX_ITEMS:
        raise LimitExceeded(f"a list or map would have more than {MAX_ITEMS} elements", pos)
    rt.charge(8 * len(items), pos)
    return items


def need_str(v: Any, name: str, pos: Pos) -> str:
    if not isinstance(v, str):
        raise GroovyError(f"{name}: expected a String, got {type_name(v)}", pos)
    return v


def need_int(v: Any, name: str, pos: Pos) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise GroovyError(f"{name}: expected an Integer, got {type_name(v)}", pos)
    return v


# -- regular expressions: RE2 (linear time in the text, whatever the pattern), so that no pattern
# can hold the server's event loop; RE2 has no backreferences or lookarounds, which are refused.
MAX_PATTERN = 1000


def safe_regex(pattern: Any, pos: Pos) -> Any:
    p = need_str(pattern, "regex", pos)
    if len(p) > MAX_PATTERN:
        raise GroovyError(f"regex of {len(p)} characters: at most {MAX_PATTERN}", pos)
    import re2  # loaded on the first regex a script uses (the parser never needs it)

    try:
        return re2.compile(p)
    except re2.error as e:
        raise GroovyError(
            f"regex {p!r} is not supported: {e} (Dockyard's regexes are RE2: no backreferences"
            " or lookarounds)",
            pos,
            "java.util.regex.PatternSyntaxException",
        ) from None


# -- String -----------------------------------------------------------------------------------
@method("trim", "strip")
async def _trim(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 0, "trim", pos)
    return need_str(recv, "trim", pos).strip()


@method("split")
async def _split(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    s = need_str(recv, "split", pos)
    if not args:
        return checked_list(rt, s.split(), pos)
    sep = need_str(args[0], "split", pos)
    if s == "":
        return [""]  # as Java: splitting the empty string gives it back
    if sep == "":
        return checked_list(rt, list(s), pos)
    plain = re.fullmatch(r"[^\\^$.|?*+()\[\]{}]+", sep)
    parts = s.split(sep) if plain else _regex_split(safe_regex(sep, pos), s)
    while parts and parts[-1] == "":  # Java drops trailing empty strings
        parts.pop()
    return checked_list(rt, parts, pos)


def _regex_split(rx: Any, s: str) -> list[str]:
    """Java's String.split: the text between matches (groups are not kept, a zero-width match at
    the start makes no leading empty string)."""
    parts: list[str] = []
    last = 0
    for m in rx.finditer(s):
        if m.end() == 0:
            continue
        parts.append(s[last : m.start()])
        last = m.end()
    parts.append(s[last:])
    return parts


@method("tokenize")
async def _tokenize(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    s = need_str(recv, "tokenize", pos)
    delims = need_str(args[0], "tokenize", pos) if args else " \t\n\r\f"
    out: list[str] = []
    cur: list[str] = []
    for ch in s:
        if ch in delims:
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return checked_list(rt, out, pos)


@method("contains")
async def _contains(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 1, "contains", pos)
    if isinstance(recv, str):
        return to_string(args[0]) in recv
    if isinstance(recv, list):
        return any(equal(x, args[0]) for x in recv)
    raise bad(recv, "contains", pos)


METHODS["startsWith"] = lambda rt, r, a, p: _affix(r, a, p, True)
METHODS["endsWith"] = lambda rt, r, a, p: _affix(r, a, p, False)


async def _affix(recv: Any, args: list[Any], pos: Pos, start: bool) -> Any:
    argn(args, 1, "startsWith" if start else "endsWith", pos)
    s, fix = need_str(recv, "startsWith", pos), to_string(args[0])
    return s.startswith(fix) if start else s.endswith(fix)


@method("replace")
async def _replace(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 2, "replace", pos)
    s, old, new = need_str(recv, "replace", pos), to_string(args[0]), to_string(args[1])
    count = s.count(old) if old else len(s) + 1
    if len(s) + count * (len(new) - len(old)) > MAX_STRING:
        raise LimitExceeded(f"a string would be longer than {MAX_STRING} characters", pos)
    return checked_str(rt, s.replace(old, new), pos)


@method("replaceAll", "replaceFirst")
async def _replace_all(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 2, "replaceAll", pos)
    s, rx, new = (
        need_str(recv, "replaceAll", pos),
        safe_regex(args[0], pos),
        need_str(args[1], "replaceAll", pos),
    )
    new = re.sub(r"\$(\d)", r"\\\1", new.replace("\\", "\\\\"))
    matches = len(rx.findall(s))
    if len(s) + matches * len(new) > MAX_STRING:
        raise LimitExceeded(f"a string would be longer than {MAX_STRING} characters", pos)
    return checked_str(rt, rx.sub(new, s), pos)


METHODS["replaceFirst"] = lambda rt, r, a, p: _replace_first(rt, r, a, p)


async def _replace_first(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 2, "replaceFirst", pos)
    s, rx = need_str(recv, "replaceFirst", pos), safe_regex(args[0], pos)
    new = re.sub(r"\$(\d)", r"\\\1", need_str(args[1], "replaceFirst", pos).replace("\\", "\\\\"))
    return checked_str(rt, rx.sub(new, s, count=1), pos)


@method("matches")
async def _matches(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 1, "matches", pos)
    return safe_regex(args[0], pos).fullmatch(need_str(recv, "matches", pos)) is not None


@method("take", "drop")
async def _take(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 1, "take", pos)
    n = max(0, need_int(args[0], "take", pos))
    if not isinstance(recv, str | list):
        raise bad(recv, "take", pos)
    return recv[:n]


METHODS["drop"] = lambda rt, r, a, p: _drop(r, a, p)


async def _drop(recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 1, "drop", pos)
    if not isinstance(recv, str | list):
        raise bad(recv, "drop", pos)
    return recv[max(0, need_int(args[0], "drop", pos)) :]


@method("size", "length")
async def _size(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 0, "size", pos)
    if isinstance(recv, str | list | dict):
        return len(recv)
    raise bad(recv, "size", pos)


@method("isEmpty")
async def _is_empty(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    if isinstance(recv, str | list | dict):
        return len(recv) == 0
    raise bad(recv, "isEmpty", pos)


def _number(recv: Any, name: str, pos: Pos, kind: type) -> Any:
    if isinstance(recv, bool):
        raise bad(recv, name, pos)
    if isinstance(recv, int | float):
        return kind(recv)
    s = need_str(recv, name, pos).strip()
    try:
        return kind(s) if kind is float else int(s, 10)
    except ValueError:
        raise GroovyError(f'For input string: "{recv}"', pos, "java.lang.NumberFormatException") from None


METHODS["toInteger"] = METHODS["toLong"] = METHODS["intValue"] = METHODS["longValue"] = lambda rt, r, a, p: (
    _async(_number(r, "toInteger", p, int))
)
METHODS["toDouble"] = METHODS["toFloat"] = METHODS["doubleValue"] = METHODS["toBigDecimal"] = (
    lambda rt, r, a, p: _async(_number(r, "toDouble", p, float))
)


async def _async(v: Any) -> Any:
    return v


@method("isInteger", "isNumber", "isLong")
async def _is_integer(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    return bool(re.fullmatch(r"\s*[-+]?\d+\s*", need_str(recv, "isInteger", pos)))


METHODS["isNumber"] = METHODS["isDouble"] = METHODS["isBigDecimal"] = lambda rt, r, a, p: _async(
    bool(re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", need_str(r, "isNumber", p)))
)


@method("toBoolean")
async def _to_boolean(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    if isinstance(recv, bool):
        return recv
    return need_str(recv, "toBoolean", pos).strip().lower() in ("true", "y", "1")


@method("toUpperCase", "toLowerCase", "capitalize", "uncapitalize")
async def _case(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    return need_str(recv, "toUpperCase", pos).upper()


METHODS["toLowerCase"] = lambda rt, r, a, p: _async(need_str(r, "toLowerCase", p).lower())
METHODS["capitalize"] = lambda rt, r, a, p: _async(need_str(r, "capitalize", p)[:1].upper() + r[1:])
METHODS["uncapitalize"] = lambda rt, r, a, p: _async(need_str(r, "uncapitalize", p)[:1].lower() + r[1:])


@method("substring")
async def _substring(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    s = need_str(recv, "substring", pos)
    if not 1 <= len(args) <= 2:
        raise bad(recv, "substring", pos)
    begin = need_int(args[0], "substring", pos)
    end = need_int(args[1], "substring", pos) if len(args) == 2 else len(s)
    if not 0 <= begin <= end <= len(s):
        raise GroovyError(
            f"begin {begin}, end {end}, length {len(s)}", pos, "java.lang.StringIndexOutOfBoundsException"
        )
    return s[begin:end]


@method("indexOf", "lastIndexOf")
async def _index_of(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 1, "indexOf", pos)
    if isinstance(recv, str):
        return recv.find(to_string(args[0]))
    if isinstance(recv, list):
        return next((i for i, x in enumerate(recv) if equal(x, args[0])), -1)
    raise bad(recv, "indexOf", pos)


METHODS["lastIndexOf"] = lambda rt, r, a, p: _async(
    need_str(r, "lastIndexOf", p).rfind(to_string(a[0])) if len(a) == 1 else -1
)


@method("equals")
async def _equals(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 1, "equals", pos)
    return equal(recv, args[0])


@method("equalsIgnoreCase")
async def _equals_ic(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 1, "equalsIgnoreCase", pos)
    return isinstance(args[0], str) and need_str(recv, "equalsIgnoreCase", pos).lower() == args[0].lower()


@method("padLeft", "padRight")
async def _pad(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    return _padding(rt, recv, args, pos, left=True)


METHODS["padRight"] = lambda rt, r, a, p: _async(_padding(rt, r, a, p, left=False))


def _padding(rt: Runtime, recv: Any, args: list[Any], pos: Pos, left: bool) -> str:
    s = need_str(recv, "padLeft", pos)
    width = need_int(args[0], "padLeft", pos) if args else 0
    if width > MAX_STRING:
        raise LimitExceeded(f"a string would be longer than {MAX_STRING} characters", pos)
    fill = to_string(args[1]) if len(args) > 1 else " "
    if len(s) >= width or not fill:
        return s
    pad = (fill * (width // len(fill) + 1))[: width - len(s)]
    return checked_str(rt, pad + s if left else s + pad, pos)


@method("readLines")
async def _read_lines(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    return checked_list(rt, need_str(recv, "readLines", pos).splitlines(), pos)


@method("toString")
async def _to_string(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 0, "toString", pos)
    return checked_str(rt, to_string(recv), pos)


@method("reverse")
async def _reverse(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    if isinstance(recv, str | list):
        return recv[::-1]
    raise bad(recv, "reverse", pos)


@method("stripIndent")
async def _strip_indent(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    import textwrap

    return textwrap.dedent(need_str(recv, "stripIndent", pos))


# -- Collections (List and Map) ----------------------------------------------------------------
def _closure_arg(rt: Runtime, args: list[Any], name: str, pos: Pos, optional: bool = False) -> Any:
    if not args:
        if optional:
            return None
        raise GroovyError(f"{name}() needs a closure: {name} {{ ... }}", pos)
    fn = args[-1]
    if not isinstance(fn, ClosureValue):
        raise GroovyError(f"{name}() needs a closure, got {type_name(fn)}", pos)
    return fn


async def _apply(rt: Runtime, fn: Any, recv: Any, item: Any, pos: Pos) -> Any:
    """Calls fn for one element: a map entry goes in as (key, value) to a two-parameter closure."""
    if fn is None:
        return item
    rt.tick(pos)
    if isinstance(item, MapEntry) and rt.arity(fn) == 2:
        return await rt.call(fn, [item.key, item.value], pos)
    return await rt.call(fn, [item], pos)


def _elements(recv: Any, name: str, pos: Pos) -> list[Any]:
    if isinstance(recv, list):
        return list(recv)
    if isinstance(recv, dict):
        return [MapEntry(k, v) for k, v in recv.items()]
    if isinstance(recv, str) and name in ("each", "collect", "find", "findAll", "any", "every"):
        return list(recv)
    raise bad(recv, name, pos)


@method("each")
async def _each(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    fn = _closure_arg(rt, args, "each", pos)
    for item in _elements(recv, "each", pos):
        await _apply(rt, fn, recv, item, pos)
    return recv


@method("eachWithIndex")
async def _each_with_index(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    fn = _closure_arg(rt, args, "eachWithIndex", pos)
    for i, item in enumerate(_elements(recv, "eachWithIndex", pos)):
        rt.tick(pos)
        if isinstance(item, MapEntry) and rt.arity(fn) == 3:
            await rt.call(fn, [item.key, item.value, i], pos)
        else:
            await rt.call(fn, [item, i], pos)
    return recv


@method("collect")
async def _collect(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    fn = _closure_arg(rt, args, "collect", pos, optional=True)
    return checked_list(
        rt, [await _apply(rt, fn, recv, x, pos) for x in _elements(recv, "collect", pos)], pos
    )


@method("collectEntries")
async def _collect_entries(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    fn = _closure_arg(rt, args, "collectEntries", pos, optional=True)
    out: dict[Any, Any] = {}
    for x in _elements(recv, "collectEntries", pos):
        r = await _apply(rt, fn, recv, x, pos)
        if isinstance(r, dict):
            out.update(r)
        elif isinstance(r, list) and len(r) == 2:
            out[r[0]] = r[1]
        elif isinstance(r, MapEntry):
            out[r.key] = r.value
        else:
            raise GroovyError("collectEntries: the closure must return [key, value] or [key: value]", pos)
    checked_list(rt, list(out), pos)
    return out


@method("findAll")
async def _find_all(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    fn = _closure_arg(rt, args, "findAll", pos, optional=True)
    kept = [x for x in _elements(recv, "findAll", pos) if truth(await _apply(rt, fn, recv, x, pos))]
    if isinstance(recv, dict):
        return {e.key: e.value for e in kept}
    if isinstance(recv, str):
        return kept
    return kept


@method("find")
async def _find(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    fn = _closure_arg(rt, args, "find", pos, optional=True)
    for x in _elements(recv, "find", pos):
        if truth(await _apply(rt, fn, recv, x, pos)):
            return x
    return None


@method("findIndexOf")
async def _find_index(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    fn = _closure_arg(rt, args, "findIndexOf", pos)
    for i, x in enumerate(_elements(recv, "findIndexOf", pos)):
        if truth(await _apply(rt, fn, recv, x, pos)):
            return i
    return -1


@method("any")
async def _any(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    fn = _closure_arg(rt, args, "any", pos, optional=True)
    for x in _elements(recv, "any", pos):
        if truth(await _apply(rt, fn, recv, x, pos)):
            return True
    return False


@method("every")
async def _every(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    fn = _closure_arg(rt, args, "every", pos, optional=True)
    for x in _elements(recv, "every", pos):
        if not truth(await _apply(rt, fn, recv, x, pos)):
            return False
    return True


@method("count")
async def _count(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 1, "count", pos)
    if isinstance(recv, str):
        return recv.count(to_string(args[0])) if args[0] != "" else len(recv) + 1
    if isinstance(args[0], ClosureValue):
        return sum([truth(await _apply(rt, args[0], recv, x, pos)) for x in _elements(recv, "count", pos)])
    return sum(1 for x in _elements(recv, "count", pos) if equal(x, args[0]))


@method("inject")
async def _inject(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 2, "inject", pos)
    acc, fn = args[0], _closure_arg(rt, args, "inject", pos)
    for x in _elements(recv, "inject", pos):
        rt.tick(pos)
        acc = await rt.call(fn, [acc, x], pos)
    return acc


@method("groupBy")
async def _group_by(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    fn = _closure_arg(rt, args, "groupBy", pos)
    out: dict[Any, list[Any]] = {}
    for x in _elements(recv, "groupBy", pos):
        out.setdefault(await _apply(rt, fn, recv, x, pos), []).append(x)
    return out


@method("join")
async def _join(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    if not isinstance(recv, list):
        raise bad(recv, "join", pos)
    sep = to_string(args[0]) if args else ""
    parts = []
    total = 0
    for x in recv:
        s = to_string(x, MAX_STRING - total, pos)
        total += len(s) + len(sep)
        if total > MAX_STRING + len(sep):
            raise LimitExceeded(f"a string would be longer than {MAX_STRING} characters", pos)
        parts.append(s)
    return checked_str(rt, sep.join(parts), pos)


def _list(recv: Any, name: str, pos: Pos) -> list[Any]:
    if not isinstance(recv, list):
        raise bad(recv, name, pos)
    return recv


@method("first", "head")
async def _first(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    items = _list(recv, "first", pos)
    if not items:
        raise GroovyError(
            "Cannot access first() element from an empty List", pos, "java.util.NoSuchElementException"
        )
    return items[0]


@method("last")
async def _last(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    items = _list(recv, "last", pos)
    if not items:
        raise GroovyError(
            "Cannot access last() element from an empty List", pos, "java.util.NoSuchElementException"
        )
    return items[-1]


@method("tail")
async def _tail(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    return _list(recv, "tail", pos)[1:]


@method("sort")
async def _sort(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    items = _list(recv, "sort", pos)
    fn = _closure_arg(rt, args, "sort", pos, optional=True)
    if fn is None:
        keys = list(items)
    elif rt.arity(fn) == 2:
        result = await _merge_sort(rt, fn, list(items), pos)
        items[:] = result
        return items
    else:
        keys = [await _apply(rt, fn, recv, x, pos) for x in items]
    order = sorted(range(len(items)), key=_cmp_key(keys, pos))
    items[:] = [items[i] for i in order]
    return items


def _cmp_key(keys: list[Any], pos: Pos) -> Callable[[int], Any]:
    import functools

    return functools.cmp_to_key(lambda i, j: compare(keys[i], keys[j], pos))


async def _merge_sort(rt: Runtime, fn: Any, items: list[Any], pos: Pos) -> list[Any]:
    if len(items) <= 1:
        return items
    mid = len(items) // 2
    left, right = await _merge_sort(rt, fn, items[:mid], pos), await _merge_sort(rt, fn, items[mid:], pos)
    out: list[Any] = []
    while left and right:
        rt.tick(pos)
        c = await rt.call(fn, [left[0], right[0]], pos)
        out.append(right.pop(0) if isinstance(c, int | float) and c > 0 else left.pop(0))
    return out + left + right


@method("unique")
async def _unique(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    items = _list(recv, "unique", pos)
    out: list[Any] = []
    for x in items:
        rt.tick(pos)
        if not any(equal(x, y) for y in out):
            out.append(x)
    items[:] = out
    return items


@method("toSet")
async def _to_set(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    return await _unique(rt, list(_list(recv, "toSet", pos)), [], pos)


@method("toList", "asList")
async def _to_list(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    if isinstance(recv, str):
        return list(recv)
    return list(_list(recv, "toList", pos))


@method("sum")
async def _sum(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    items = _list(recv, "sum", pos)
    if not items:
        return None
    total = items[0]
    for x in items[1:]:
        total = arith(rt, "+", total, x, pos)
    return total


@method("max", "min")
async def _max(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    items = _list(recv, "max", pos)
    return max(items, key=_cmp_value(pos)) if items else None


METHODS["min"] = lambda rt, r, a, p: _async(min(_list(r, "min", p), key=_cmp_value(p)) if r else None)


def _cmp_value(pos: Pos) -> Any:
    import functools

    return functools.cmp_to_key(lambda a, b: compare(a, b, pos))


@method("add", "push", "leftShift")
async def _add(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    items = _list(recv, "add", pos)
    if len(args) == 2:
        items.insert(need_int(args[0], "add", pos), args[1])
    else:
        argn(args, 1, "add", pos)
        items.append(args[0])
    checked_list(rt, items, pos)
    return True


@method("addAll")
async def _add_all(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 1, "addAll", pos)
    items = _list(recv, "addAll", pos)
    items.extend(_list(args[0], "addAll", pos))
    checked_list(rt, items, pos)
    return True


@method("pop")
async def _pop(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    items = _list(recv, "pop", pos)
    if not items:
        raise GroovyError("Cannot pop() an empty List", pos, "java.util.NoSuchElementException")
    return items.pop(0)


@method("remove")
async def _remove(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 1, "remove", pos)
    if isinstance(recv, dict):
        return recv.pop(args[0], None)
    items = _list(recv, "remove", pos)
    if isinstance(args[0], int) and not isinstance(args[0], bool):
        if not -len(items) <= args[0] < len(items):
            raise GroovyError(f"index {args[0]} out of range", pos, "java.lang.IndexOutOfBoundsException")
        return items.pop(args[0])
    for i, x in enumerate(items):
        if equal(x, args[0]):
            del items[i]
            return True
    return False


@method("flatten")
async def _flatten(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    out: list[Any] = []

    def walk(x: list[Any], depth: int) -> None:
        if depth > 64:
            raise LimitExceeded("a list nested deeper than 64 levels", pos)
        for y in x:
            if isinstance(y, list):
                walk(y, depth + 1)
            else:
                out.append(y)
                if len(out) > MAX_ITEMS:
                    raise LimitExceeded(f"a list would have more than {MAX_ITEMS} elements", pos)

    walk(_list(recv, "flatten", pos), 0)
    return checked_list(rt, out, pos)


@method("get", "getAt")
async def _get(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    if isinstance(recv, dict):
        if len(args) == 2:
            return recv.setdefault(args[0], args[1])
        argn(args, 1, "get", pos)
        return recv.get(args[0])
    argn(args, 1, "get", pos)
    items = _list(recv, "get", pos)
    i = need_int(args[0], "get", pos)
    if not -len(items) <= i < len(items):
        raise GroovyError(f"index {i} out of range", pos, "java.lang.IndexOutOfBoundsException")
    return items[i]


@method("subList")
async def _sub_list(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 2, "subList", pos)
    return _list(recv, "subList", pos)[need_int(args[0], "subList", pos) : need_int(args[1], "subList", pos)]


@method("withIndex")
async def _with_index(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    return checked_list(rt, [[x, i] for i, x in enumerate(_list(recv, "withIndex", pos))], pos)


def _op_method(op: str) -> Method:
    async def m(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
        argn(args, 1, op, pos)
        return arith(rt, op, recv, args[0], pos)

    return m


for _name, _op in (("plus", "+"), ("minus", "-"), ("multiply", "*"), ("div", "/"), ("mod", "%"),
                   ("intdiv", "intdiv"), ("power", "**")):  # fmt: skip
    METHODS[_name] = _op_method(_op)


# -- Map -------------------------------------------------------------------------------------
def _map(recv: Any, name: str, pos: Pos) -> dict[Any, Any]:
    if not isinstance(recv, dict):
        raise bad(recv, name, pos)
    return recv


METHODS["keySet"] = lambda rt, r, a, p: _async(list(_map(r, "keySet", p)))
METHODS["values"] = lambda rt, r, a, p: _async(list(_map(r, "values", p).values()))
METHODS["entrySet"] = lambda rt, r, a, p: _async([MapEntry(k, v) for k, v in _map(r, "entrySet", p).items()])
METHODS["containsKey"] = lambda rt, r, a, p: _async(len(a) == 1 and a[0] in _map(r, "containsKey", p))
METHODS["containsValue"] = lambda rt, r, a, p: _async(
    len(a) == 1 and any(equal(v, a[0]) for v in _map(r, "containsValue", p).values())
)
METHODS["getOrDefault"] = lambda rt, r, a, p: _async(
    _map(r, "getOrDefault", p).get(a[0], a[1]) if len(a) == 2 else None
)


@method("put")
async def _put(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 2, "put", pos)
    m = _map(recv, "put", pos)
    old = m.get(args[0])
    m[args[0]] = args[1]
    checked_list(rt, list(m), pos)
    return old


@method("putAll")
async def _put_all(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 1, "putAll", pos)
    m = _map(recv, "putAll", pos)
    m.update(_map(args[0], "putAll", pos))
    checked_list(rt, list(m), pos)
    return None


@method("subMap")
async def _sub_map(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    argn(args, 1, "subMap", pos)
    m = _map(recv, "subMap", pos)
    return {k: m[k] for k in _list(args[0], "subMap", pos) if k in m}


# -- entries, numbers, closures, errors, the build -------------------------------------------
METHODS["getKey"] = lambda rt, r, a, p: _async(_entry(r, p).key)
METHODS["getValue"] = lambda rt, r, a, p: _async(_entry(r, p).value)


def _entry(recv: Any, pos: Pos) -> MapEntry:
    if not isinstance(recv, MapEntry):
        raise bad(recv, "getKey", pos)
    return recv


@method("getMessage", "getLocalizedMessage")
async def _get_message(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    if not isinstance(recv, ErrorValue):
        raise bad(recv, "getMessage", pos)
    return recv.message


@method("abs")
async def _abs(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    if isinstance(recv, bool) or not isinstance(recv, int | float):
        raise bad(recv, "abs", pos)
    return abs(recv)


@method("round")
async def _round(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    if isinstance(recv, bool) or not isinstance(recv, int | float):
        raise bad(recv, "round", pos)
    return int(recv + 0.5) if recv >= 0 else -int(-recv + 0.5)


@method("times")
async def _times(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    n = need_int(recv, "times", pos)
    fn = _closure_arg(rt, args, "times", pos)
    for i in range(n):
        rt.tick(pos)
        await rt.call(fn, [i], pos)
    return None


@method("call")
async def _call(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    if not isinstance(recv, ClosureValue):
        raise bad(recv, "call", pos)
    return await rt.call(recv, args, pos)


@method("resultIsBetterOrEqualTo", "resultIsWorseOrEqualTo", "getResult", "getCurrentResult",
        "getNumber", "getDisplayName", "getDescription", "getAbsoluteUrl", "getDurationString")  # fmt: skip
async def _build_method(rt: Runtime, recv: Any, args: list[Any], pos: Pos) -> Any:
    raise AssertionError("dispatched by the interpreter")


SPECIAL_METHODS = frozenset(
    {"resultIsBetterOrEqualTo", "resultIsWorseOrEqualTo", "getResult", "getCurrentResult", "getNumber",
     "getDisplayName", "getDescription", "getAbsoluteUrl", "getDurationString"}
)  # fmt: skip
