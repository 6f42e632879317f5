"""Entity-tag preconditions: does an ``If-Match`` / ``If-None-Match`` header name the current ETag?"""

from __future__ import annotations


def etag_matches(header: str | None, etag: str | None) -> bool:
    """Whether ``header`` (a comma-separated list, or ``*``) names ``etag``.

    Weak comparison (RFC 9110 §13.1.2 for If-None-Match): a ``W/`` prefix is ignored. Quotes are optional
    on both sides, as clients differ. No header, or no current resource (``etag`` None), never matches.
    """
    if not header or etag is None:
        return False
    wanted = {value.strip().removeprefix("W/").strip('"') for value in header.split(",")}
    return "*" in wanted or etag.strip('"') in wanted
