"""The jobs API: the user's jobs newest first in pages, one job, and who may see it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import create_async_engine
from tests.auth.conftest import bearer, login_token, register
from tests.conftest import recorded_statements
from tests.jobs.conftest import Replica

from aiwfe.calendar.models import CalendarImport, ImportStatus
from aiwfe.core import sql
from aiwfe.core.db import create_sessionmaker
from aiwfe.core.settings import Settings
from aiwfe.jobs.schemas import JobStatus
from aiwfe.jobs.sources import CalendarImports

PROBLEM = "application/problem+json"


async def signed_in(http: AsyncClient, email: str) -> dict[str, str]:
    await register(http, email)
    return bearer(await login_token(http, email))


async def new_calendar(http: AsyncClient, headers: dict[str, str], name: str = "Work") -> str:
    response = await http.post("/api/v1/calendars", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    calendar_id: str = response.json()["id"]
    return calendar_id


async def add_import(settings: Settings, calendar_id: str, **values: object) -> uuid.UUID:
    """An import row as the API leaves it for the worker, with ``values`` changed."""
    engine = create_async_engine(settings.database_url.get_secret_value())
    try:
        async with create_sessionmaker(engine)() as db:
            job = CalendarImport(calendar_id=uuid.UUID(calendar_id), size_bytes=1000, **values)
            db.add(job)
            await db.commit()
            return job.id
    finally:
        await engine.dispose()


@pytest.fixture
async def http(replica_a: Replica, settings: Settings) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(base_url=replica_a.url, timeout=30) as client:
        yield client


async def test_the_list_is_newest_first_in_pages(http: AsyncClient, settings: Settings) -> None:
    alice = await signed_in(http, "alice@example.com")
    calendar = await new_calendar(http, alice)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [await add_import(settings, calendar, created_at=start + timedelta(minutes=n)) for n in range(3)]
    first = await http.get("/api/v1/jobs", params={"limit": 2}, headers=alice)
    assert first.status_code == 200
    page = first.json()
    assert [job["id"] for job in page["items"]] == [str(ids[2]), str(ids[1])]
    assert page["items"][0]["kind"] == "calendar_import"
    assert page["items"][0]["title"] == "Import into “Work”"
    assert page["items"][0]["calendar_id"] == calendar
    second = await http.get("/api/v1/jobs", params={"limit": 2, "cursor": page["next_cursor"]}, headers=alice)
    assert [job["id"] for job in second.json()["items"]] == [str(ids[0])]
    assert second.json()["next_cursor"] is None


async def test_one_job_shows_its_progress(http: AsyncClient, settings: Settings) -> None:
    alice = await signed_in(http, "alice@example.com")
    calendar = await new_calendar(http, alice)
    job_id = await add_import(settings, calendar, status=ImportStatus.RUNNING, total=200, processed=50)
    response = await http.get(f"/api/v1/jobs/{job_id}", headers=alice)
    assert response.status_code == 200
    job = response.json()
    assert (job["status"], job["processed"], job["total"], job["percent"]) == ("running", 50, 200, 25)


async def test_another_users_job_is_not_found(http: AsyncClient, settings: Settings) -> None:
    alice = await signed_in(http, "alice@example.com")
    bob = await signed_in(http, "bob@example.com")
    job_id = await add_import(settings, await new_calendar(http, alice))
    for path in (f"/api/v1/jobs/{job_id}", f"/api/v1/jobs/{job_id}/events"):
        response = await http.get(path, headers=bob)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"].endswith("/not-found")
    assert (await http.get("/api/v1/jobs", headers=bob)).json()["items"] == []


async def test_a_malformed_id_is_a_422_problem(http: AsyncClient) -> None:
    alice = await signed_in(http, "alice@example.com")
    for path in ("/api/v1/jobs/not-a-job", "/api/v1/jobs/not-a-job/events"):
        response = await http.get(path, headers=alice)
        assert response.status_code == 422, path
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"][0]["loc"] == ["path", "job_id"]


async def test_a_forged_cursor_is_a_422_problem_naming_the_cursor(http: AsyncClient) -> None:
    alice = await signed_in(http, "alice@example.com")
    for cursor in ("not base64!", "bm90IGEgY3Vyc29y"):
        response = await http.get("/api/v1/jobs", params={"cursor": cursor}, headers=alice)
        assert response.status_code == 422, cursor
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["field"] == "cursor"


async def test_jobs_need_a_signed_in_caller(http: AsyncClient) -> None:
    for path in ("/api/v1/jobs", f"/api/v1/jobs/{uuid.uuid4()}", f"/api/v1/jobs/{uuid.uuid4()}/events"):
        response = await http.get(path)
        assert response.status_code == 401, path
        assert response.headers["content-type"] == PROBLEM


async def test_the_list_never_reads_an_uploads_payload(http: AsyncClient, settings: Settings) -> None:
    # A pending import's row holds its whole upload (up to calendar_import_max_bytes): a list of jobs
    # selects the columns it shows, never that one.
    alice = await signed_in(http, "payload@example.com")
    calendar = await new_calendar(http, alice)
    await add_import(settings, calendar, payload=b"BEGIN:VCALENDAR" * 1000)
    owner = uuid.UUID((await http.get("/api/v1/me", headers=alice)).json()["id"])
    engine = create_async_engine(settings.database_url.get_secret_value())
    try:
        with recorded_statements(engine) as statements:
            async with sql.connect(engine) as conn:
                jobs = await CalendarImports().page(conn, owner, None, 10)
    finally:
        await engine.dispose()
    assert [job.status for job in jobs] == [JobStatus.PENDING]
    assert statements, "the page was read"
    assert not [s for s in statements if "payload" in s]
