"""schemathesis against the running stack's OpenAPI schema: no 5xx, every response conforms to the schema.

Cases come from schemathesis (positive and negative data, a bounded number per operation) and are sent
with httpx, the client the rest of the suite uses, so every finding is reported the same way. Each failure
keeps the exact request (method, URL, body) to replay it.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

# Operations that would end or change the fuzzing session's own credentials; testing them would turn every
# later case into a 401 and prove nothing about the rest of the API.
EXCLUDED = {
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/me/password"),
    ("POST", "/api/v1/me/sessions/revoke-others"),
    ("DELETE", "/api/v1/me/sessions/{session_id}"),
    ("PATCH", "/api/v1/me"),
    ("POST", "/api/v1/me/totp/setup"),
    ("POST", "/api/v1/me/totp/confirm"),
}


@dataclass
class Finding:
    operation: str
    check: str
    status: int | None
    message: str
    request: dict[str, Any]
    response: str


@dataclass
class SchemaRun:
    schema_url: str
    examples: int
    operations: int = 0
    cases: int = 0
    unsendable: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(1 for f in self.findings if f.check == "not_a_server_error")

    @property
    def violations(self) -> int:
        return sum(1 for f in self.findings if f.check != "not_a_server_error")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "server_errors": self.server_errors, "violations": self.violations}


def bearer_token(client: httpx.Client) -> str:
    """Register a fresh user and sign in in token mode; the token authenticates every generated case."""
    email = f"schemathesis-{uuid.uuid4().hex[:12]}@validation.example.org"
    password = secrets.token_urlsafe(18)
    client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "display_name": "Schema"}
    ).raise_for_status()
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password, "mode": "token"})
    response.raise_for_status()
    return str(response.json()["session_token"])


def _send(client: httpx.Client, kwargs: dict[str, Any]) -> httpx.Response:
    """A schemathesis case serialised for ``requests`` (``as_transport_kwargs``), sent with httpx."""
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif isinstance(kwargs.get("data"), bytes | str):
        body["content"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        body["data"] = kwargs["data"]
    if kwargs.get("files"):
        body["files"] = kwargs["files"]
    return client.request(
        kwargs["method"],
        kwargs["url"],
        headers={k: str(v) for k, v in (kwargs.get("headers") or {}).items()},
        params=kwargs.get("params") or None,
        cookies=kwargs.get("cookies") or None,
        **body,
    )


def _request_evidence(kwargs: dict[str, Any]) -> dict[str, Any]:
    headers = {
        k: ("[token]" if k.lower() == "authorization" else v)
        for k, v in (kwargs.get("headers") or {}).items()
    }
    evidence = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "params": kwargs.get("params"),
        "headers": headers,
    }
    for key in ("json", "data"):
        if key in kwargs and kwargs[key] is not None:
            value = kwargs[key]
            evidence[key] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return dict(json.loads(json.dumps(evidence, default=str)))


def run_schemathesis(base_url: str, verify: Any, examples: int = 10, seed: int | None = None) -> SchemaRun:
    """Every operation of ``/api/openapi.json``: ``examples`` positive and ``examples`` negative cases."""
    import hypothesis
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hsettings
    from schemathesis import GenerationMode, openapi
    from schemathesis.core.result import Err

    began = time.monotonic()
    schema_url = f"{base_url}/api/openapi.json"
    run = SchemaRun(schema_url, examples)
    statuses: Counter[str] = Counter()
    with httpx.Client(base_url=base_url, verify=verify, timeout=30) as client:
        raw = client.get("/api/openapi.json")
        raw.raise_for_status()
        schema = openapi.from_dict(raw.json())
        headers = {"Authorization": f"Bearer {bearer_token(client)}"}
        for result in schema.get_all_operations():
            if isinstance(result, Err):  # an operation schemathesis cannot read is evidence, not a crash
                run.errors.append(f"{type(result.err()).__name__}: {result.err()}"[:500])
                continue
            operation = result.ok()
            label = f"{operation.method.upper()} {operation.path}"
            if (operation.method.upper(), operation.path) in EXCLUDED:
                run.excluded.append(label)
                continue
            run.operations += 1
            seen: set[tuple[str, int | None, str]] = set()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                probe = given(case=operation.as_strategy(generation_mode=mode))(
                    _checker(client, base_url, headers, label, seen, run, statuses)
                )
                probe = hsettings(
                    max_examples=examples,
                    deadline=None,
                    database=None,
                    derandomize=seed is None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )(probe)
                if seed is not None:
                    probe = hypothesis.seed(seed)(probe)
                try:
                    probe()
                except hypothesis.errors.Unsatisfiable:
                    pass  # nothing to make invalid (an operation without parameters or body)
                except hypothesis.errors.HypothesisException as exc:
                    run.errors.append(f"{label} ({mode.value}): {type(exc).__name__}: {exc}"[:500])
    run.statuses = dict(sorted(statuses.items()))
    run.errors = run.errors[:50]
    run.seconds = round(time.monotonic() - began, 1)
    return run


def _checker(
    client: httpx.Client,
    base_url: str,
    headers: dict[str, str],
    label: str,
    seen: set[tuple[str, int | None, str]],
    run: SchemaRun,
    statuses: Counter[str],
) -> Any:
    """The hypothesis test body for one operation: send the case, record each distinct failure once."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import Failure
    from schemathesis.specs.openapi.checks import response_schema_conformance

    def probe(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
        run.cases += 1
        try:
            response = _send(client, kwargs)
        except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeError):
            run.unsendable += 1  # a case the HTTP client refuses to build (e.g. an over-long query)
            return
        except httpx.HTTPError as exc:
            run.errors.append(f"{label}: {type(exc).__name__}: {exc}"[:500])
            return
        statuses[f"{response.status_code // 100}xx"] += 1
        documented = {str(code) for code in case.operation.definition.raw.get("responses", {})}
        for check in (not_a_server_error, response_schema_conformance):
            if check is not_a_server_error and str(response.status_code) in documented:
                continue  # a documented 5xx is the contract (``/ready`` answers 503 while a check fails)
            try:
                case.validate_response(response, checks=[check])
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises failures, grouped
                for failure in getattr(exc, "exceptions", None) or [exc]:
                    if not isinstance(failure, Failure | AssertionError):
                        run.errors.append(f"{label}: {type(failure).__name__}: {failure}"[:500])
                        continue
                    title = str(getattr(failure, "title", type(failure).__name__))
                    key = (check.__name__, response.status_code, title)
                    if key in seen:
                        continue
                    seen.add(key)
                    message = str(getattr(failure, "message", "") or failure)
                    run.findings.append(
                        Finding(
                            label,
                            check.__name__,
                            response.status_code,
                            f"{title}: {message}"[:800],
                            _request_evidence(kwargs),
                            response.text[:800],
                        )
                    )

    return probe
