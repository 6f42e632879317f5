"""core/cursors: a page cursor round-trips its position, and anything else is refused with ``BadCursor``."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiwfe.core.cursors import BadCursor, decode_cursor, encode_cursor

AWARE = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]))


@given(at=AWARE, key=st.text())
def test_a_cursor_round_trips_its_position(at: datetime, key: str) -> None:
    cursor = encode_cursor(at, key)
    assert not set(cursor) & set("=/+")  # safe in a query string as is
    assert decode_cursor(cursor) == (at, key)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        _b64(b"\xff\xfe"),  # not UTF-8
        _b64(b"{}"),  # JSON, not a position
        _b64(b'["2026-01-01T00:00:00+00:00"]'),  # too short
        _b64(b'["2026-01-01T00:00:00+00:00", 7]'),  # the key is not text
        _b64(b'["yesterday", "a"]'),  # not a time
        _b64(b'["2026-01-01T00:00:00", "a"]'),  # a naive time
    ],
)
def test_anything_but_a_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(cursor)
