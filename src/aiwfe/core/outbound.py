"""The one HTTP client for every call made to a URL a user typed (ICS URLs, CalDAV servers, webhooks).

Server-side request forgery is stopped where the socket is opened, not where the URL is read: the network
backend under httpx resolves the host name once, refuses the connection unless every address is public
(or inside ``AIWFE_OUTBOUND_ALLOW_NETWORKS``), and connects to an address it checked. TLS still verifies
the certificate for the name, and the Host header is the name. Because every new connection goes through
that backend, every redirect hop is checked the same way, and a name that resolves differently a second
time (DNS rebinding) cannot move a connection after its check. Answers are capped in size and in total
time; compressed answers are refused (we ask for ``identity``), so the cap is the size we hold.

Operator-configured endpoints (identity providers, the Google API, SMTP) are not user input and do not go
through this client.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
import typing
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

from aiwfe.core.settings import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2000
MAX_REDIRECTS = 5
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits are IPv4
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local-use prefix: site-specific
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")  # RFC 3056: bits 16..48 are IPv4


class OutboundError(Exception):
    """A call we refused or cut short; ``str(exc)`` is a sentence a user can act on."""


class Refused(OutboundError):
    """The URL is not one we call: wrong scheme, credentials in it, or a host that is not public."""


class TooLarge(OutboundError):
    """The answer is larger than the cap."""


class TooSlow(OutboundError):
    """The answer took longer than the total time cap."""


def is_local_name(host: str) -> bool:
    """``localhost`` and its subdomains, which resolvers may answer without DNS."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in SIX_TO_FOUR:
        return ip.sixtofour
    return None


def is_public_address(address: str) -> bool:
    """False for loopback, private, link-local, shared (CGNAT), reserved, documentation and multicast
    addresses; an IPv6 address standing for an IPv4 one (IPv4-mapped, NAT64 ``64:ff9b::/96``, 6to4) is
    judged by that IPv4 address; the local-use NAT64 prefix is never public. A scope suffix
    (``fe80::1%eth0``) is ignored."""
    ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
    return ip.is_global and not ip.is_multicast


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (blocking)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_networks(value: str) -> tuple[Network, ...]:
    """``AIWFE_OUTBOUND_ALLOW_NETWORKS``: comma-separated addresses or CIDR networks."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()
    )


@dataclass(frozen=True)
class Guard:
    """Which addresses we connect to: public ones, and those in ``allow`` (an explicit, narrow escape for a
    server on the operator's own network, or the tests' loopback servers). ``resolver`` is a seam."""

    allow: tuple[Network, ...] = ()
    resolver: Resolver = field(default=system_resolver)

    @classmethod
    def from_settings(cls, settings: Settings, resolver: Resolver = system_resolver) -> Guard:
        return cls(parse_networks(settings.outbound_allow_networks), resolver)

    def permitted(self, address: str) -> bool:
        if is_public_address(address):
            return True
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        return any(ip.version == net.version and ip in net for net in self.allow)

    def addresses(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` once; every address must be permitted (one bad answer refuses the name, so a
        round-robin of public and private answers cannot be used). Raises :class:`Refused`."""
        host = host.strip("[]")
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
            found = [host]
        except ValueError:
            if is_local_name(host) and not self.allow:
                raise Refused(f"{host} is a local name; only public addresses are called") from None
            found = self.resolver(host, port)
            if not found:
                raise Refused(f"the host {host} cannot be resolved") from None
        refused = [address for address in found if not self.permitted(address)]
        if refused:
            seen = "" if refused[0] == host else f" ({refused[0]})"
            raise Refused(f"{host} is on a private or local network{seen}; only public addresses are called")
        return found

    async def check_url(self, url: str) -> None:
        """What :func:`check_syntax` checks, and that the host resolves to permitted addresses now (so a
        source or webhook is refused when it is saved, not at its first use)."""
        host, port = check_syntax(url)
        await anyio.to_thread.run_sync(self.addresses, host, port)


def check_syntax(url: str) -> tuple[str, int]:
    """An http(s) URL with a host and without credentials; returns (host, port). Raises :class:`Refused`."""
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("is not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("must be an http:// or https:// URL")
    if not parts.hostname:
        raise Refused("has no host")
    if parts.username or parts.password:
        raise Refused("must not carry credentials; give them in their own fields")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


# ---- the network backend: resolve once, check, connect to what was checked --------------------------


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await anyio.to_thread.run_sync(self.guard.addresses, host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Refused("unix sockets are never called")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int, deadline: float, label: str) -> None:
        self.inner, self.limit, self.deadline, self.label = inner, limit, deadline, label

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self.inner:
            seen += len(chunk)
            if seen > self.limit:
                raise TooLarge(f"the answer of {self.label} is larger than {self.limit} bytes")
            if time.monotonic() > self.deadline:
                raise TooSlow(f"{self.label} took too long to answer")
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over the guarded network backend, with the size and time caps."""

    def __init__(
        self, guard: Guard, *, max_bytes: int, total_seconds: float, verify: ssl.SSLContext | bool = True
    ) -> None:
        super().__init__(verify=verify, trust_env=False, retries=0)
        ssl_context = (
            self._pool._ssl_context if isinstance(self._pool, httpcore.AsyncConnectionPool) else None
        )
        # httpx takes no network backend, so the pool it built is replaced by the same pool over ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or ssl.create_default_context(),
            network_backend=_GuardedBackend(guard),
            max_connections=10,
            max_keepalive_connections=5,
        )
        self.max_bytes = max_bytes
        self.total_seconds = total_seconds

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self.total_seconds
        label = request.url.host
        response = await super().handle_async_request(request)
        declared = response.headers.get("Content-Length", "")
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        problem: OutboundError | None = None
        if declared.isdigit() and int(declared) > self.max_bytes:
            problem = TooLarge(f"the answer of {label} is larger than {self.max_bytes} bytes")
        elif encoding not in ("", "identity"):
            problem = Refused(f"{label} sent a {encoding}-compressed answer, which was not asked for")
        if problem is not None:
            await response.aclose()
            raise problem
        stream = typing.cast(httpx.AsyncByteStream, response.stream)
        response.stream = _CappedStream(stream, self.max_bytes, deadline, label)
        return response


@dataclass(frozen=True)
class Limits:
    """Per call: ``timeout`` s for each connect/read/write, ``total`` s for the whole answer, at most
    ``max_bytes`` of body."""

    timeout: float
    total: float
    max_bytes: int


def client(
    guard: Guard,
    limits: Limits,
    *,
    user_agent: str,
    follow_redirects: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient whose every connection (redirect hops included) goes through ``guard``.
    ``transport`` replaces the guarded one only where a test needs a fake remote."""
    return httpx.AsyncClient(
        transport=transport
        or GuardedTransport(guard, max_bytes=limits.max_bytes, total_seconds=limits.total),
        timeout=httpx.Timeout(limits.timeout),
        follow_redirects=follow_redirects,
        max_redirects=MAX_REDIRECTS,
        trust_env=False,  # a proxy from the environment would be connected to unchecked
        headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
    )
