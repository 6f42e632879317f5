"""The outbound client behind sync sources and reminder webhooks: which addresses it calls, the name resolved
once and the connection made to the address checked (Host and TLS kept for the name), every redirect hop
checked, and the caps on an answer. Real servers on loopback; the resolver is the only seam."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aiwfe.core import outbound
from aiwfe.core.outbound import Guard, Refused, TooLarge, is_local_name, is_public_address

ALLOWED = "127.0.0.1/32"  # the test servers' address stands for "a public address" below
INTERNAL = "127.0.0.2"  # loopback too, but outside the allowed network: stands for an internal service
LIMITS = outbound.Limits(timeout=5, total=10, max_bytes=4096)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("192.0.2.1", False),  # documentation
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("ff02::1", False),  # multicast
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:93.184.216.34", True),
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b::a01:203", False),  # NAT64 of 10.1.2.3
        ("64:ff9b::5db8:d822", True),  # NAT64 of 93.184.216.34
        ("64:ff9b:1::5db8:d822", False),  # local-use NAT64 prefix: site-specific
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
    ],
)
def test_only_addresses_on_the_public_internet_are_public(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@pytest.mark.parametrize(
    ("host", "local"),
    [("localhost", True), ("LOCALHOST.", True), ("api.localhost", True), ("example.com", False)],
)
def test_localhost_names_are_local(host: str, local: bool) -> None:
    assert is_local_name(host) is local


def test_a_name_with_one_private_answer_among_public_ones_is_refused() -> None:
    guard = Guard(resolver=lambda host, port: ["93.184.216.34", "10.0.0.5"])
    with pytest.raises(Refused, match="private or local network"):
        guard.addresses("mixed.example", 443)


def test_allowed_networks_are_an_explicit_narrow_escape() -> None:
    guard = Guard(allow=outbound.parse_networks("192.168.1.20/32"), resolver=lambda host, port: [])
    assert guard.addresses("192.168.1.20", 80) == ["192.168.1.20"]
    for other in ("192.168.1.21", "127.0.0.1", "64:ff9b::c0a8:114"):
        with pytest.raises(Refused):
            guard.addresses(other, 80)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(Refused, match="cannot be resolved"):
        Guard(resolver=lambda host, port: []).addresses("nowhere.example", 80)


# ---- real servers ------------------------------------------------------------------------------------


class Server:
    """A real HTTP(S) server on ``address``; ``answer(handler)`` writes each response; hits are recorded."""

    def __init__(
        self,
        address: str,
        answer: Callable[[BaseHTTPRequestHandler], None],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.hits: list[tuple[str, str, str | None]] = []  # method, path, Host
        server = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self) -> None:
                server.hits.append((self.command, self.path, self.headers.get("Host")))
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                answer(self)

            do_GET = do_POST = do_PROPFIND = handle_one

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((address, 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(address: str, answer: Callable[[BaseHTTPRequestHandler], None], **kwargs: Any) -> Server:
        server = Server(address, answer, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def ok(handler: BaseHTTPRequestHandler, body: bytes = b"hello") -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def redirect(status: int, location: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return answer


class Resolver:
    """The seam: answers a name with the next list of addresses, and counts the questions."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers.pop(0) if self.answers else []


def guarded(resolver: Resolver | None = None, **kwargs: Any) -> httpx.AsyncClient:
    guard = Guard(outbound.parse_networks(ALLOWED), resolver or outbound.system_resolver)
    transport = outbound.GuardedTransport(
        guard, max_bytes=LIMITS.max_bytes, total_seconds=LIMITS.total, **kwargs
    )
    return outbound.client(guard, LIMITS, user_agent="test", transport=transport)


async def test_a_name_is_resolved_once_and_the_connection_goes_to_the_address_checked(
    servers: Callable[..., Server],
) -> None:
    checked = servers("127.0.0.1", ok)
    internal = servers(INTERNAL, ok)
    assert internal.port != 0
    # DNS rebinding: the first answer passes the check, a second lookup would give the internal address.
    resolver = Resolver(["127.0.0.1"], [INTERNAL])
    async with guarded(resolver) as client:
        response = await client.get(f"http://rebind.example:{checked.port}/feed.ics")
    assert response.status_code == 200
    assert resolver.asked == ["rebind.example"]
    assert checked.hits == [("GET", "/feed.ics", f"rebind.example:{checked.port}")]  # Host is the name
    assert internal.hits == []


def _certificate(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for ``name``: the server's context, and a client context trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_tls_is_verified_for_the_name_while_connecting_to_the_checked_address(
    servers: Callable[..., Server], tmp_path: Path
) -> None:
    server_tls, client_tls = _certificate(tmp_path, "cal.example")
    secure = servers("127.0.0.1", ok, tls=server_tls)
    async with guarded(Resolver(["127.0.0.1"]), verify=client_tls) as client:
        response = await client.get(f"https://cal.example:{secure.port}/")
    assert response.status_code == 200
    # The same server under another name: the certificate does not match it, so no answer is read.
    async with guarded(Resolver(["127.0.0.1"]), verify=client_tls) as client:
        with pytest.raises(httpx.ConnectError, match=r"certificate|hostname"):
            await client.get(f"https://other.example:{secure.port}/")


@pytest.mark.parametrize("status", [302, 307, 308])
@pytest.mark.parametrize("target", [INTERNAL, "metadata.internal"])
async def test_every_redirect_hop_is_checked(
    servers: Callable[..., Server], status: int, target: str
) -> None:
    internal = servers(INTERNAL, ok)
    location = f"http://{target}:{internal.port}/latest/meta-data"
    public = servers("127.0.0.1", redirect(status, location))
    async with guarded(Resolver([INTERNAL])) as client:
        with pytest.raises(Refused, match="only public addresses are called"):
            await client.request("PROPFIND", f"http://127.0.0.1:{public.port}/cal/", content=b"<x/>")
    assert [hit[0] for hit in public.hits] == ["PROPFIND"]
    assert internal.hits == []


async def test_a_declared_body_over_the_cap_is_not_read(servers: Callable[..., Server]) -> None:
    big = servers("127.0.0.1", lambda handler: ok(handler, b"x" * (LIMITS.max_bytes + 1)))
    async with guarded() as client:
        with pytest.raises(TooLarge, match=f"larger than {LIMITS.max_bytes} bytes"):
            await client.get(f"http://127.0.0.1:{big.port}/")


def _undeclared(handler: BaseHTTPRequestHandler) -> None:
    """A body without Content-Length, ended by closing the connection, far over the cap."""
    handler.protocol_version = "HTTP/1.0"
    handler.send_response(200)
    handler.end_headers()
    try:
        for _ in range(64):
            handler.wfile.write(b"y" * 1024)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client stopped reading at the cap
    handler.close_connection = True


async def test_an_undeclared_body_is_cut_at_the_cap(servers: Callable[..., Server]) -> None:
    endless = servers("127.0.0.1", _undeclared)
    async with guarded() as client:
        with pytest.raises(TooLarge):
            await client.get(f"http://127.0.0.1:{endless.port}/")
        # Streaming readers (the ICS fetch) are cut the same way.
        async with client.stream("GET", f"http://127.0.0.1:{endless.port}/") as response:
            with pytest.raises(TooLarge):
                await response.aread()


async def test_a_compressed_answer_is_refused(servers: Callable[..., Server]) -> None:
    def gzipped(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    bomb = servers("127.0.0.1", gzipped)
    async with guarded() as client:
        with pytest.raises(Refused, match="gzip"):
            await client.get(f"http://127.0.0.1:{bomb.port}/")
    assert bomb.hits


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/a.ics", "http:// or https://"),
        ("http://user:pw@example.com/a.ics", "credentials"),
        ("http:///a.ics", "no host"),
        ("http://[64:ff9b::7f00:1]/a.ics", "private or local network"),
        ("http://localhost/a.ics", "local name"),
        ("http://10.1.2.3/a.ics", "private or local network"),
    ],
)
async def test_urls_are_checked_before_any_call(url: str, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        await Guard().check_url(url)
