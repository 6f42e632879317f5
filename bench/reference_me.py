"""The reference for ``GET /api/v1/me``: the same work in a minimal FastAPI app, with the same libraries.

Bearer token → one ``redis.asyncio`` GET (the token's user id) → one ``asyncpg`` ``fetchrow`` of the user →
JSON; no middleware, no access log, no metrics. ``GET /plain`` answers the same JSON with no I/O at all: what
the framework alone costs a request. ``bench/api.py`` runs it in its own uvicorn process, on the
same PostgreSQL and Redis as the API, and measures it with ``wrk`` beside the bare floor: it shows how much
of the floor this framework leaves for the work itself, the ceiling for the API's own figure.

    uvicorn reference_me:app --app-dir bench   (AIWFE_REFERENCE_DSN, AIWFE_REFERENCE_REDIS in the environment)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Header, HTTPException
from redis.asyncio import Redis

KEY = "reference:me:"  # + bearer token → the user's id; bench/api.py writes it
USER = "SELECT id, email, display_name, time_zone, role, created_at FROM users WHERE id = $1"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["AIWFE_REFERENCE_DSN"], min_size=2, max_size=10)
    app.state.redis = Redis.from_url(os.environ["AIWFE_REFERENCE_REDIS"], decode_responses=True)
    yield
    await app.state.redis.aclose()
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/me")
async def me(authorization: str = Header(default="")) -> dict[str, Any]:
    user_id = await app.state.redis.get(KEY + authorization.removeprefix("Bearer "))
    if user_id is None:
        raise HTTPException(401)
    row = await app.state.pool.fetchrow(USER, uuid.UUID(user_id))
    if row is None:
        raise HTTPException(401)
    return dict(row)


@app.get("/plain")
async def plain() -> dict[str, Any]:
    return {"id": "00000000-0000-0000-0000-000000000000", "email": "plain@example.com"}
