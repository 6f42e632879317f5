"""Per-IP limits count an IPv6 client's whole /64: one subscriber can pick any address in it."""

from __future__ import annotations

import pytest
from httpx import ASGITransport, AsyncClient
from tests.auth.conftest import PASSWORD

from aiwfe.api.app import create_app
from aiwfe.auth.audit import ClientInfo
from aiwfe.core.settings import Settings


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("203.0.113.9", "203.0.113.9"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        (None, None),
    ],
)
def test_the_rate_key_is_the_ipv4_address_or_the_ipv6_slash_64(ip: str | None, key: str | None) -> None:
    assert ClientInfo(ip=ip, user_agent="").rate_key == key


async def _login(settings: Settings, ip: str, n: int) -> int:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app, client=(ip, 40000)), base_url="http://t") as c,
    ):
        response = await c.post(
            "/api/v1/auth/login", json={"email": f"u{n}@example.com", "password": PASSWORD}
        )
        return response.status_code


async def test_addresses_of_one_ipv6_slash_64_share_the_login_limit(settings: Settings) -> None:
    tight = settings.model_copy(update={"login_rate_per_ip": "3/minute", "lockout_threshold": 100})
    same_net = ["2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2:ffff::c", "2001:db8:1:2::d"]
    codes = [await _login(tight, ip, n) for n, ip in enumerate(same_net)]
    assert codes == [401, 401, 401, 429]
    assert await _login(tight, "2001:db8:1:3::a", 9) == 401
