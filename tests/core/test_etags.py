"""core/etags: If-Match / If-None-Match lists compared weakly with the current ETag."""

from __future__ import annotations

import pytest

from aiwfe.core.etags import etag_matches


@pytest.mark.parametrize(
    ("header", "etag"),
    [
        ('"abc"', "abc"),
        ('"abc"', '"abc"'),
        ('W/"abc"', "abc"),  # weak comparison
        ('"old", "abc"', "abc"),
        ('"old",W/"abc"', '"abc"'),
        ("*", "abc"),
        ("abc", "abc"),  # a client that forgot the quotes
    ],
)
def test_a_listed_etag_or_a_star_matches(header: str, etag: str) -> None:
    assert etag_matches(header, etag)


@pytest.mark.parametrize(
    ("header", "etag"),
    [
        (None, "abc"),
        ("", "abc"),
        ('"old"', "abc"),
        ('"ab"', "abc"),
        ('"abc-1"', "abc"),
        ("*", None),  # no current resource: If-Match: * fails, If-None-Match: * lets a create through
        ('"abc"', None),
    ],
)
def test_anything_else_does_not_match(header: str | None, etag: str | None) -> None:
    assert not etag_matches(header, etag)
