"""Sign-ins in progress, in Redis: ``state`` → the PKCE verifier, nonce, intent and the browser it belongs to.

Each is used at most once (GETDEL) and expires after ``AIWFE_OAUTH_FLOW_MINUTES``. The browser that started
it holds a random binding cookie whose hash is stored, so a callback URL replayed in another browser (login
CSRF, or an attacker's code fed to a victim) finds no flow to finish.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

from redis.asyncio import Redis

from aiwfe.core.crypto import token_hash

KEY = "aiwfe:oauth-flow:"
Intent = Literal["login", "link"]


@dataclass(frozen=True)
class Flow:
    provider: str
    intent: Intent
    redirect_uri: str
    code_verifier: str
    nonce: str | None
    binding_hash: str
    scopes: list[str]
    next_path: str
    user_id: str | None = None


class FlowStore:
    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds

    async def put(self, state: str, flow: Flow) -> None:
        await self.redis.set(KEY + token_hash(state), json.dumps(asdict(flow)), ex=self.ttl)

    async def take(self, state: str) -> Flow | None:
        """The flow for ``state``, removed so it cannot be finished twice; None when unknown or expired."""
        raw = await self.redis.getdel(KEY + token_hash(state))
        if raw is None:
            return None
        return Flow(**json.loads(raw))
