"""run_http served by functions-framework: authentication, input validation, manual runs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo.database import Database

from common import apikeys
from common.clock import utcnow
from tests import tokens
from tests.conftest import seed
from tests.functions_fixtures import (
    ADMIN_KEY,
    ALLOWED_ORIGIN,
    JWT_SECRET,
    RECORDING_SOURCE,
    Served,
    function_env,
    serve,
)
from tests.recording import sends_per_post

TIMEOUT = 30
UNAUTHENTICATED = "Missing or invalid Authorization header"
SECRETS = (JWT_SECRET, ADMIN_KEY)


@pytest.fixture(scope="module")
def run_fn(mongo_uri: str, fn_db_name: str, fn_workdir: Path) -> Iterator[Served]:
    # Each send takes a second, so concurrent requests overlap with a run that has posts.
    env = function_env(
        mongo_uri, fn_db_name, RECORDING_LATENCY_SECONDS="1", GOOGLE_CLOUD_PROJECT="demo-proj"
    )
    with serve("run_http", RECORDING_SOURCE, env, fn_workdir) as served:
        yield served


def call(
    served: Served,
    authorization: str | bytes | None = None,
    body: bytes | None = None,
    method: str = "POST",
    headers: dict[str, Any] | None = None,
) -> requests.Response:
    sent: dict[str, Any] = dict(headers or {})
    if authorization is not None:
        sent["Authorization"] = authorization
    if body is not None:
        sent.setdefault("Content-Type", "application/json")
    return requests.request(method, served.url, headers=sent, data=body, timeout=TIMEOUT)


def admin() -> str:
    return f"Bearer {ADMIN_KEY}"


# --- authentication ---------------------------------------------------------------------------

_PRIVATE, _PUBLIC = tokens.rsa_pair()
_VALID = tokens.hs256(tokens.claims())

AUTH_MATRIX: list[tuple[str, str | None, int]] = [
    ("no header", None, 401),
    ("empty header", "", 401),
    ("scheme only", "Bearer", 401),
    ("two tokens", f"Bearer {_VALID} {_VALID}", 401),
    ("not token68", "Bearer {not-a-token}", 401),
    ("wrong scheme", f"Basic {_VALID}", 401),
    ("token scheme", f"Token {ADMIN_KEY}", 401),
    ("no scheme", _VALID, 401),
    ("three dots of junk", "Bearer a.b.c", 401),
    (
        "alg none",
        "Bearer " + tokens.forged({"alg": "none", "typ": "JWT"}, tokens.claims(), None),
        401,
    ),
    ("RS256 signed", "Bearer " + tokens.rs256(tokens.claims(), _PRIVATE), 401),
    (
        "HS256 keyed with the RSA public key",
        "Bearer " + tokens.forged({"alg": "HS256", "typ": "JWT"}, tokens.claims(), _PUBLIC),
        401,
    ),
    ("expired", "Bearer " + tokens.hs256(tokens.claims(exp=int(time.time()) - 3600)), 401),
    ("no exp", "Bearer " + tokens.hs256(tokens.claims(exp=None)), 401),
    ("not yet valid", "Bearer " + tokens.hs256(tokens.claims(nbf=int(time.time()) + 3600)), 401),
    ("wrong audience", "Bearer " + tokens.hs256(tokens.claims(aud="another-app")), 401),
    ("no audience", "Bearer " + tokens.hs256(tokens.claims(aud=None)), 401),
    ("wrong issuer", "Bearer " + tokens.hs256(tokens.claims(iss="https://evil.test")), 401),
    ("tampered signature", "Bearer " + tokens.tampered(_VALID, sub="someone-else"), 401),
    (
        "role escalated",
        "Bearer " + tokens.tampered(tokens.hs256(tokens.claims(role="user")), role="admin"),
        401,
    ),
    ("other secret", "Bearer " + tokens.hs256(tokens.claims(), "x" * 48), 401),
    ("oversized token", "Bearer " + "a" * 6000, 401),
    ("admin key wrong", "Bearer " + "k" * len(ADMIN_KEY), 401),
    ("admin key prefix", "Bearer " + ADMIN_KEY[:-1], 401),
    ("admin key with suffix", "Bearer " + ADMIN_KEY + "x", 401),
    ("no admin role", "Bearer " + tokens.hs256(tokens.claims(role=None)), 403),
    ("user role", "Bearer " + tokens.hs256(tokens.claims(role="user")), 403),
    (
        "roles without admin",
        "Bearer " + tokens.hs256(tokens.claims(role=None, roles=["editor"])),
        403,
    ),
    (
        "isAdmin as a string",
        "Bearer " + tokens.hs256(tokens.claims(role=None, isAdmin="true")),
        403,
    ),
    ("roles as a string", "Bearer " + tokens.hs256(tokens.claims(role=None, roles="admin")), 403),
    ("admin role", "Bearer " + _VALID, 200),
    (
        "admin in roles",
        "Bearer " + tokens.hs256(tokens.claims(role=None, roles=["x", "admin"])),
        200,
    ),
    ("isAdmin", "Bearer " + tokens.hs256(tokens.claims(role=None, isAdmin=True)), 200),
    ("lower-case scheme", "bearer " + _VALID, 200),
    ("admin key", f"Bearer {ADMIN_KEY}", 200),
]


@pytest.mark.parametrize(
    ("case", "authorization", "expected"), AUTH_MATRIX, ids=[c[0] for c in AUTH_MATRIX]
)
def test_auth_matrix(
    run_fn: Served, fresh_db: Database[Any], case: str, authorization: str | None, expected: int
) -> None:
    response = call(run_fn, authorization)
    assert response.status_code == expected, case
    body = response.json()
    if expected == 200:
        assert body["success"] is True
        assert body["result"]["skipped"] is False
        return
    assert body["error"] == (UNAUTHENTICATED if expected == 401 else "Admin role required")
    assert body["requestId"] == response.headers["X-Request-ID"]
    if expected == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "scheduler_state" not in fresh_db.list_collection_names()  # nothing ran


def test_a_short_admin_key_leaves_key_auth_off(
    mongo_uri: str, fn_db_name: str, fn_workdir: Path, fresh_db: Database[Any]
) -> None:
    short_key = "k" * 31
    env = function_env(mongo_uri, fn_db_name, ADMIN_SECRET_KEY=short_key)
    with serve("run_http", RECORDING_SOURCE, env, fn_workdir) as served:
        refused = call(served, f"Bearer {short_key}")
        jwt_still_works = call(served, f"Bearer {_VALID}")
    assert refused.status_code == 401
    assert jwt_still_works.status_code == 200


def test_an_admin_api_key_for_every_account_runs_and_no_other_key_does(
    run_fn: Served, fresh_db: Database[Any]
) -> None:
    now = utcnow()
    every_scope_but_admin = [s for s in apikeys.SCOPES if s != "admin"]
    writer = apikeys.create(fresh_db, "writer", every_scope_but_admin, now)
    limited = apikeys.create(fresh_db, "limited", ["admin"], now, ["fb"])
    revoked = apikeys.create(fresh_db, "revoked", ["admin"], now)
    apikeys.revoke(fresh_db, revoked.key.id, now)
    for made, status, error in (
        (writer, 403, "This credential lacks the admin scope"),
        (limited, 403, "A key limited to accounts cannot run the scheduler"),
        (revoked, 401, UNAUTHENTICATED),
    ):
        refused = call(run_fn, f"Bearer {made.secret}")
        assert (refused.status_code, refused.json()["error"]) == (status, error)
    assert "scheduler_state" not in fresh_db.list_collection_names()  # nothing ran

    admin = apikeys.create(fresh_db, "ops", ["admin"], now)
    ran = call(run_fn, f"Bearer {admin.secret}", json.dumps({"limit": 1}).encode())
    assert ran.status_code == 200 and ran.json()["result"]["skipped"] is False
    rid = ran.headers["X-Request-ID"]
    mine = [line for line in run_fn.log_lines() if line.get("requestId") == rid]
    started = next(line for line in mine if line["message"] == "manual run")
    assert started["auth"] == f"key:{admin.key.id}"
    assert admin.secret not in run_fn.output.read_text()


def test_a_manual_run_is_in_the_audit_trail_with_who_ran_it(
    run_fn: Served, fresh_db: Database[Any]
) -> None:
    # As the api's admin actions are: an admin key's run is the key's, not anonymous.
    admin = apikeys.create(fresh_db, "ops", ["admin"], utcnow())
    runs = [
        call(run_fn, f"Bearer {admin.secret}", json.dumps({"dryRun": True}).encode()),
        call(run_fn, f"Bearer {ADMIN_KEY}"),
    ]
    assert [r.status_code for r in runs] == [200, 200]
    trail = {e["requestId"]: e for e in fresh_db["audit"].find({"action": "scheduler.run"})}
    by_key, by_admin_key = (trail[r.headers["X-Request-ID"]] for r in runs)
    assert (by_key["who"], by_key["targets"], by_key["status"]) == (
        f"key:{admin.key.id}",
        ["dryRun"],
        200,
    )
    assert (by_admin_key["who"], by_admin_key["targets"]) == ("admin_key", [])
    refused = call(run_fn, "Bearer sk_0123456789abcdef_wrong")
    assert refused.status_code == 401
    assert fresh_db["audit"].count_documents({}) == 2  # a refusal runs nothing


# --- malformed requests -------------------------------------------------------------------------

_BAD_FIELDS: list[dict[str, Any]] = [
    {"dryRun": "yes"},
    {"dryRun": 1},
    {"dryRun": None},
    {"limit": 0},
    {"limit": None},
    {"limit": -1},
    {"limit": 10_001},
    {"limit": "5"},
    {"limit": 1.5},
    {"limit": True},
    {"limit": []},
    {"limit": {}},
    {"limit": 10**40},
    {"foo": 1},
    {"dryrun": True},
    {"dryRun": True, "extra": "x" * 500},
]
_DEEP = b"[" * 2000 + b"]" * 2000
MALFORMED: list[tuple[str, dict[str, Any], int]] = [
    *[(f"method {m}", {"method": m}, 405) for m in ("GET", "PUT", "DELETE", "PATCH")],
    *[
        (f"content type {t}", {"body": b'{"dryRun": true}', "headers": {"Content-Type": t}}, 415)
        for t in (
            "text/plain",
            "application/xml",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
        )
    ],
    *[
        (f"body {raw!r}", {"body": raw}, 400)
        for raw in (
            b"{",
            b"nul",
            b"{'dryRun': true}",
            b"\xff\xfe\x00",
            b"[]",
            b"1",
            b'"run"',
            b"null",
            b"true",
            b'{"dryRun": true,}',
            _DEEP,
        )
    ],
    *[(f"field {json.dumps(doc)}", {"body": json.dumps(doc).encode()}, 400) for doc in _BAD_FIELDS],
    ("oversized body", {"body": b'{"limit": 1, "pad": "' + b"x" * 5000 + b'"}'}, 413),
    *[
        (f"authorization {value!r}", {"authorization": value}, 401)
        for value in (
            "Bearer  ",
            "Bearer \t",
            "Bearer ..",
            "Bearer a.b.c.d",
            "Bearer " + "é" * 20,
            b"Bearer \xf0\x9f\x99\x82",
            "Bearer null",
            "Bearer undefined",
            "Digest username=admin",
            "Bearer " + ADMIN_KEY.upper(),
        )
    ],
]


@pytest.mark.parametrize(
    ("case", "request_args", "expected"), MALFORMED, ids=[c[0] for c in MALFORMED]
)
def test_malformed_requests_get_a_4xx_with_a_reason(
    run_fn: Served, case: str, request_args: dict[str, Any], expected: int
) -> None:
    args = dict(request_args)
    authorization = args.pop("authorization", admin())
    response = call(run_fn, authorization, **args)
    assert response.status_code == expected, case
    body = response.json()
    assert body["error"]
    assert body["requestId"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.text
    assert not any(secret in response.text for secret in SECRETS)
    if expected == 405:
        assert response.headers["Allow"] == "OPTIONS, POST"


def test_there_are_at_least_forty_malformed_cases() -> None:
    assert len(MALFORMED) >= 40


# --- runs ----------------------------------------------------------------------------------------


def test_concurrent_manual_runs_one_runs_the_others_are_skipped(
    run_fn: Served, fresh_db: Database[Any]
) -> None:
    ids = seed(fresh_db, n_posts=2, n_accounts=1)  # two sends of one second, in order
    barrier = threading.Barrier(5)

    def run() -> dict[str, Any]:
        barrier.wait()
        response = call(run_fn, admin())
        assert response.status_code == 200
        result: dict[str, Any] = response.json()["result"]
        return result

    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda _: run(), range(5)))
    ran = [r for r in results if not r["skipped"]]
    assert len(ran) == 1
    assert ran[0]["postsPublished"] == 2
    assert sum(1 for r in results if r["skipped"]) == 4
    assert sends_per_post(fresh_db) == dict.fromkeys(ids, 1)


def test_a_dry_run_reports_due_posts_and_publishes_nothing(
    run_fn: Served, fresh_db: Database[Any]
) -> None:
    seed(fresh_db, n_posts=3, n_accounts=1)
    response = call(run_fn, admin(), json.dumps({"dryRun": True, "limit": 2}).encode())
    result = response.json()["result"]
    assert (result["dryRun"], result["postsDue"], result["postsPublished"]) == (True, 2, 0)
    assert sends_per_post(fresh_db) == {}
    assert fresh_db["posts"].count_documents({"status": "scheduled"}) == 3


def test_a_limit_caps_the_posts_a_run_takes(run_fn: Served, fresh_db: Database[Any]) -> None:
    seed(fresh_db, n_posts=3, n_accounts=3)
    response = call(run_fn, admin(), json.dumps({"limit": 1}).encode())
    assert response.json()["result"]["postsPublished"] == 1
    assert len(sends_per_post(fresh_db)) == 1


def test_responses_carry_the_security_headers_and_echo_the_request_id(
    run_fn: Served, fresh_db: Database[Any]
) -> None:
    response = call(run_fn, admin(), headers={"X-Request-ID": "req-123"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-ID"] == "req-123"
    generated = call(run_fn, None, headers={"X-Request-ID": "bad id\twith junk"})
    assert generated.headers["X-Request-ID"] != "bad id\twith junk"
    assert len(generated.headers["X-Request-ID"]) == 32


def test_cors_preflight_answers_only_allowed_origins(run_fn: Served) -> None:
    allowed = call(run_fn, method="OPTIONS", headers={"Origin": ALLOWED_ORIGIN})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    other = call(run_fn, method="OPTIONS", headers={"Origin": "https://evil.example.test"})
    assert other.status_code == 403
    assert "Access-Control-Allow-Origin" not in other.headers


def test_logs_are_json_with_request_id_and_trace_and_no_secrets_or_text(
    run_fn: Served, fresh_db: Database[Any]
) -> None:
    seed(fresh_db, n_posts=1, n_accounts=1)
    fresh_db["posts"].update_many({}, {"$set": {"content.text": "secret launch text"}})
    trace = "105445aa7843bc8bf206b12000100000/1;o=1"
    headers = {"X-Request-ID": "trace-me-1", "X-Cloud-Trace-Context": trace}
    assert call(run_fn, f"Bearer {_VALID}", headers=headers).status_code == 200
    lines = run_fn.log_lines()
    mine = [line for line in lines if line.get("requestId") == "trace-me-1"]
    assert {line["message"] for line in mine} >= {"manual run", "run finished"}
    for line in mine:
        assert line["severity"] in ("INFO", "WARNING", "ERROR")
        assert line["logging.googleapis.com/trace"] == (
            "projects/demo-proj/traces/105445aa7843bc8bf206b12000100000"
        )
    assert any("runId" in line for line in mine)
    dumped = run_fn.output.read_text()
    for secret in (*SECRETS, _VALID, "secret launch text", "not-a-real-token"):
        assert secret not in dumped
