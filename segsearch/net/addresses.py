"""Is a URL safe to POST to? Server-side request forgery checks for webhook targets.

A webhook URL is chosen by a marketer but requested by the worker, which sits next to
Elasticsearch, Redis and whatever else listens on the private network. So a target must
be http(s) and every address its host resolves to must be publicly routable, unless the
operator allows private targets (single-host setups and tests).

The host is resolved the way the connection would resolve it (getaddrinfo), so numeric
spellings that glibc accepts (`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`) land on the
address they really mean, and the caller connects to one of the returned, vetted
addresses itself (segsearch.net.pinned): resolving once and connecting to that address
closes the DNS-rebinding window between the check and the request.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = {"http": 80, "https": 443}
# NAT64 (RFC 6052) embeds an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Not globally reachable, yet global to this Python's ipaddress tables: IETF protocol
# assignments (RFC 6890) and the deprecated IPv6 site-local range (RFC 3879).
_SPECIAL = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("fec0::/10"))


class UnsafeUrl(ValueError):
    """The URL may not be requested; the message says why (shown to the API caller)."""


class Unresolvable(UnsafeUrl):
    """The host name does not resolve (now)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (addresses, in resolver order) and what to ask for."""

    scheme: str
    host: str  # the name as written: the Host header and TLS SNI
    port: int
    path: str  # the request target: path and query
    addresses: tuple[IPAddress, ...]


def refusal(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast address, or None if it is one."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        return refusal(inner)
    for label, flag in (("unspecified", address.is_unspecified), ("loopback", address.is_loopback),
                        ("link-local", address.is_link_local), ("multicast", address.is_multicast),
                        ("reserved", address.is_reserved), ("private", address.is_private)):
        if flag:
            return label
    if any(address in network for network in _SPECIAL):
        return "special-purpose"
    # is_global also excludes shared (100.64/10), benchmarking and documentation ranges.
    return None if address.is_global else "not globally routable"


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address `host` resolves to now (literals included), in resolver order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise Unresolvable(f"host {host!r} does not resolve ({err})") from None
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"): the address is before it.
        seen.setdefault(ipaddress.ip_address(str(sockaddr[0]).split("%")[0]), None)
    if not seen:
        raise Unresolvable(f"host {host!r} does not resolve")
    return tuple(seen)


def check_url(url: str, allow_private: bool = False) -> Target:
    """The URL as a Target to connect to, or UnsafeUrl saying why it may not be requested.

    Resolves the host now: call it again right before each request (DNS may have changed)
    and connect only to the returned addresses.
    """
    parts = _split(url)
    host = parts.hostname or ""
    port = SCHEMES[parts.scheme] if parts.port is None else parts.port
    if not allow_private and _is_local_name(host):
        raise UnsafeUrl(f"host {host!r} is the local host; set "
                        "SEGSEARCH_WEBHOOK_ALLOW_PRIVATE=true to allow private targets")
    addresses = resolve(host, port)
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                shown = host if host == str(address) else f"{host!r} resolves to {address}, which"
                raise UnsafeUrl(f"{shown} is a {reason} address; set "
                                "SEGSEARCH_WEBHOOK_ALLOW_PRIVATE=true to allow private targets")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, addresses)


def _is_local_name(host: str) -> bool:
    """RFC 6761: `localhost` and its subdomains are the local host whatever DNS says."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number in range)
    except ValueError as err:
        raise UnsafeUrl(f"not a valid URL: {err}") from None
    if parts.scheme not in SCHEMES:
        raise UnsafeUrl("only http and https URLs are allowed")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    if parts.port == 0:
        raise UnsafeUrl("port 0 cannot be connected to")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("credentials in the URL are not supported (the signature authenticates)")
    return parts
