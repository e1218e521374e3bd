"""Which hosts the server itself may call: Gitea's `[webhook] ALLOWED_HOST_LIST`, as a value of
`DOCKYARD_WEBHOOK_ALLOWED_HOSTS`. Webhook deliveries (dockyard.git) and the deploy repository of
`gitopsSetImage` (dockyard.ci, dockyard.gitops) both go through it, so it lives here, below both.

A comma list; each entry is one of
- `external`: a global unicast address that is neither private nor reserved (Gitea's default,
  and ours): the public internet only;
- `private`: RFC 1918, RFC 4193 (fc00::/7) and the reserved special-purpose ranges Gitea adds
  (CGNAT, NAT64, Teredo, 6to4, documentation, Azure's metadata address ...);
- `loopback`: 127.0.0.0/8 and ::1 (`localhost` resolves there);
- `*`: anything;
- a CIDR (`10.1.0.0/16`, `fd00::/8`): addresses in it;
- anything else: a glob on the host name written in the URL (`*.corp.example`), or on the
  address's text.
Link-local addresses (169.254.0.0/16 with the cloud metadata service at 169.254.169.254,
fe80::/10), unspecified and multicast addresses match only `*` or a CIDR, as in Gitea.
IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are judged as the IPv4 address they carry.

The check is on the *resolved* address at delivery time (the caller resolves once, checks,
and connects to that address), so a name that resolves to loopback, or that changes its
answer after the hook was created (DNS rebinding), is refused like the literal address.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from dataclasses import dataclass, field

SETTING = "DOCKYARD_WEBHOOK_ALLOWED_HOSTS"
DEFAULT = "external"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Gitea's reservedIPNets: special-purpose ranges that are not "external" but count as private.
_RESERVED = tuple(ipaddress.ip_network(n) for n in (
    "100.64.0.0/10", "168.63.129.16/32", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "100::/64", "64:ff9b::/96", "64:ff9b:1::/48", "2001::/32", "2001:10::/28", "2001:20::/28",
    "2001:db8::/32", "2002::/16",
))
_RFC1918_4193 = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
# Never external, but not "private" either (Linux reaches the host itself through 0.0.0.0/8,
# and ::a.b.c.d is the deprecated IPv4-compatible form): only `*` or a CIDR allows them.
_NEVER_EXTERNAL = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "240.0.0.0/4", "::/96"))


def parse_address(host: str) -> IPAddress | None:
    """The address `host` spells, in any form the C resolver accepts (`127.1`, `2130706433`,
    `0177.0.0.1`, `0x7f.0.0.1`, `[::ffff:127.0.0.1]`); None for a host name."""
    text = host.strip().strip("[]")
    try:
        return canonical(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        pass
    try:
        return canonical(ipaddress.IPv4Address(socket.inet_aton(text)))
    except (OSError, ValueError):
        return None


def canonical(ip: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 as its IPv4 address (Go's net.IP does the same)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_private(ip: IPAddress) -> bool:
    return any(ip in net for net in (*_RFC1918_4193, *_RESERVED) if net.version == ip.version)


def is_external(ip: IPAddress) -> bool:
    """Go's IsGlobalUnicast and not private (Gitea's `external`), and none of the never-external
    ranges."""
    if (ip.is_unspecified or ip.is_loopback or ip.is_multicast or ip.is_link_local
            or ip == ipaddress.IPv4Address("255.255.255.255")):
        return False
    never = any(ip in net for net in _NEVER_EXTERNAL if net.version == ip.version)
    return not never and not is_private(ip)


def kind_of(ip: IPAddress) -> str:
    """A word for the refusal message."""
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (the cloud metadata service lives there)"
    if is_private(ip):
        return "a private address"
    if is_external(ip):
        return "an external address"
    return "a reserved address"


@dataclass(frozen=True)
class HostMatchList:
    """A parsed allow-list; `value` is kept to name it in messages."""

    value: str
    builtins: frozenset[str] = frozenset()
    patterns: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def parse(cls, value: str) -> HostMatchList:
        builtins: set[str] = set()
        patterns: list[str] = []
        networks: list[IPNetwork] = []
        for raw in value.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry in ("external", "private", "loopback"):
                builtins.add(entry)
                continue
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                    continue
                except ValueError:
                    pass
            patterns.append(entry)
        return cls(value, frozenset(builtins), tuple(patterns), tuple(networks))

    def allows(self, host: str, ip: IPAddress) -> bool:
        """Gitea's MatchHostOrIP: the URL's host name against the globs, or the address
        against the keywords, CIDRs and globs."""
        ip = canonical(ip)
        names = {host.strip("[]").lower(), str(ip)}
        if any(fnmatch.fnmatchcase(n, p) for n in names for p in self.patterns):
            return True
        if ("external" in self.builtins and is_external(ip)
                or "private" in self.builtins and is_private(ip)
                or "loopback" in self.builtins and ip.is_loopback):
            return True
        return any(ip in net for net in self.networks if net.version == ip.version)

    def refusal(self, host: str, ip: IPAddress, what: str = "webhook target") -> str:
        """Why `ip` (resolved from `host`) is refused, naming the setting and the way out."""
        ip = canonical(ip)
        shown = str(ip) if parse_address(host) == ip else f"{ip} (resolved from {host})"
        return (f"{what} {shown} is {kind_of(ip)}, which {SETTING}={self.value!r} does"
                f" not allow; an administrator may add 'loopback', 'private', a CIDR or the host"
                f" name to {SETTING} (Gitea's [webhook] ALLOWED_HOST_LIST)")


def resolve_allowed(host: str, port: int, allowed: HostMatchList, what: str) -> list[IPAddress]:
    """The addresses of `host` the allow-list accepts, in the resolver's order, for a caller that
    connects to exactly these (blocking: run it off the event loop). Raises ValueError with the
    refusal (or the lookup failure) when there is none."""
    literal = parse_address(host)
    if literal is not None:
        candidates = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ValueError(f"{what} {host}: cannot resolve the host name ({exc})") from None
        candidates = [canonical(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])) for info in infos]
    chosen = [ip for ip in dict.fromkeys(candidates) if allowed.allows(host, ip)]
    if not chosen:
        raise ValueError(allowed.refusal(host, candidates[0], what) if candidates
                         else f"{what} {host}: no address")
    return chosen
