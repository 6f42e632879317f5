"""Password hashing (argon2id, off the event loop) and the password policy."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from aiwfe.core.admission import step_aside
from aiwfe.core.settings import Settings

MIN_LENGTH = 12
MAX_LENGTH = 1024
COMMON_COUNT = 10_000


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords (zxcvbn's ranked list, shipped with the package)."""
    return frozenset(FREQUENCY_LISTS["passwords"][:COMMON_COUNT])


def policy_violation(password: str, email: str) -> str | None:
    """Why ``password`` is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"use at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"use at most {MAX_LENGTH} characters"
    if password.lower() in common_passwords():
        return "this password is one of the most common ones; choose another"
    local = email.split("@", 1)[0].lower()
    if len(local) >= 3 and local in password.lower():
        return "the password must not contain your email address"
    return None


@lru_cache(maxsize=4)
def hashing_pool(size: int) -> ThreadPoolExecutor:
    """One pool per process (and size), however many Hasher instances (apps, tests) share it."""
    return ThreadPoolExecutor(size, thread_name_prefix="argon2")


class Hasher:
    """argon2id with the configured parameters; hashing and verifying run in a small thread pool of its own.

    The pool bounds memory (each hash takes ``argon2_memory_kib``) and CPU: a burst of sign-ins queues here
    instead of filling the event loop's default executor, which other blocking calls (broker publishes) share.
    """

    def __init__(self, settings: Settings) -> None:
        self._ph = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        # Verified against when the email is unknown, so both paths cost the same time.
        self._dummy = self._ph.hash("aiwfe-timing-equaliser")
        self._pool = hashing_pool(settings.argon2_max_concurrent)

    @property
    def parameters(self) -> dict[str, int]:
        return {
            "time_cost": self._ph.time_cost,
            "memory_kib": self._ph.memory_cost,
            "parallelism": self._ph.parallelism,
        }

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._ph.hash, password)

    async def verify(
        self, stored_hash: str | None, password: str, *, holds_no_connection: bool = False
    ) -> bool:
        """True when ``password`` matches; an absent hash costs the same as a wrong password.

        ``holds_no_connection``: the caller ended its transaction first (sign-in), so while the hash waits in
        its pool the request's admission slot may serve another request (``core.admission.step_aside``)."""

        def check() -> bool:
            try:
                return self._ph.verify(stored_hash or self._dummy, password) and stored_hash is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        if not holds_no_connection:
            return await asyncio.get_running_loop().run_in_executor(self._pool, check)
        async with step_aside():
            return await asyncio.get_running_loop().run_in_executor(self._pool, check)

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._ph.check_needs_rehash(stored_hash)
