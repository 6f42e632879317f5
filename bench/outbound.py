"""What the outbound guard costs: GETs of a small ICS file from a local server, through the guarded client
(resolve in a thread, check, connect to the checked address, capped stream) and through a plain httpx
client, with a new connection per request (the worst case: every request resolves and checks) and with one
kept-alive connection. (The kept-alive figures of both include the test server's delayed-ACK wait.)

    .venv/bin/python bench/outbound.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from aiwfe.core import outbound

BODY = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n" * 20


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def _run(client: httpx.AsyncClient, url: str, requests: int, fresh: bool) -> list[float]:
    took = []
    for _ in range(requests):
        started = time.perf_counter()
        headers = {"Connection": "close"} if fresh else {}
        response = await client.get(url, headers=headers)
        assert response.content == BODY
        took.append(time.perf_counter() - started)
    return took


async def main(requests: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://bench.test:{server.server_address[1]}/feed.ics"
    guard = outbound.Guard(outbound.parse_networks("127.0.0.1/32"), lambda host, port: ["127.0.0.1"])
    limits = outbound.Limits(timeout=5, total=10, max_bytes=1 << 20)
    plain_url = url.replace("bench.test", "127.0.0.1")
    try:
        for fresh in (True, False):
            async with outbound.client(guard, limits, user_agent="bench") as guarded:
                guarded_times = await _run(guarded, url, requests, fresh)
            async with httpx.AsyncClient() as plain:
                plain_times = await _run(plain, plain_url, requests, fresh)
            label = "new connection each" if fresh else "kept-alive connection"
            for name, times in (("guarded", guarded_times), ("plain", plain_times)):
                p50 = statistics.median(times) * 1000
                p95 = statistics.quantiles(times, n=100)[94] * 1000
                print(f"{label:>22} {name:>8}: p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  ({requests} GETs)")
    finally:
        server.shutdown()
        server.server_close()
    print("rerun: .venv/bin/python bench/outbound.py --requests", requests)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    asyncio.run(main(parser.parse_args().requests))
