"""Secrets at rest and opaque tokens: MultiFernet encryption, random tokens and their hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from aiwfe.core.settings import Settings


def _derived_key(settings: Settings) -> str:
    digest = hashlib.sha256(b"aiwfe-encryption:" + settings.secret_key.get_secret_value().encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def fernet(settings: Settings) -> MultiFernet:
    """Encrypts with the first key, decrypts with any (``AIWFE_ENCRYPTION_KEYS``, newest first).

    Without explicit keys, one is derived from ``AIWFE_SECRET_KEY`` so a fresh install works; that derived
    key stays last in the list for decryption, so values written before the keys were set still open after
    they are set, before ``aiwfe rotate-keys`` has run (TOTP sign-in keeps working in between).
    """
    raw = settings.encryption_keys.get_secret_value() if settings.encryption_keys else ""
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    derived = _derived_key(settings)
    if derived not in keys:
        keys.append(derived)
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(settings: Settings, plaintext: str) -> str:
    return fernet(settings).encrypt(plaintext.encode()).decode()


def decrypt(settings: Settings, ciphertext: str) -> str:
    """Raises ``InvalidToken`` when no configured key opens the value."""
    return fernet(settings).decrypt(ciphertext.encode()).decode()


def new_token(nbytes: int = 32) -> str:
    """An opaque URL-safe random token (32 bytes = 256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """The SHA-256 hex of a token: what we store and look up, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


__all__ = ["InvalidToken", "decrypt", "encrypt", "fernet", "new_token", "same", "token_hash"]
