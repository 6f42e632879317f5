"""Opaque page cursors: a keyset position (an aware time and an id) as URL-safe text, and back."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime


class BadCursor(ValueError):
    """The text is not a cursor ``encode_cursor`` made; a domain answers with its own 4xx."""


def encode_cursor(at: datetime, key: str) -> str:
    raw = json.dumps([at.isoformat(), key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position ``encode_cursor`` wrote; raises ``BadCursor`` for anything else."""
    try:
        at, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(at, str) or not isinstance(key, str):
            raise BadCursor(cursor)
        moment = datetime.fromisoformat(at)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadCursor(cursor) from exc
    if moment.tzinfo is None:  # a position in a timestamptz column is never naive
        raise BadCursor(cursor)
    return moment, key
