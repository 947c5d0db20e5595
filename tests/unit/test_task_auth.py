"""The publish function's check of the token Cloud Run forwards (task_auth.py): the claims,
the signature Cloud Run removed, and the deployment's declaration that the invoker check is on."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from common.config import Settings, load_settings
from common.entrypoints.auth import AuthError
from common.entrypoints.task_auth import SIGNATURE_REMOVED, TaskTokenVerifier

ACCOUNT = "tasks@p.iam.gserviceaccount.com"
AUDIENCE = "https://publish-123.europe-west1.run.app"


def _settings(invoker_check: str = "on") -> Settings:
    return load_settings(
        {
            "MONGO_URI": "mongodb://127.0.0.1:1/",
            "DISPATCH": "tasks",
            "TASKS_QUEUE": "projects/p/locations/l/queues/q",
            "TASKS_TARGET_URL": AUDIENCE,
            "TASKS_SERVICE_ACCOUNT": ACCOUNT,
            "TASKS_INVOKER_CHECK": invoker_check,
        }
    )


def _token(signature: str = SIGNATURE_REMOVED, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "email": ACCOUNT,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
        **overrides,
    }
    signed = jwt.encode(claims, "k" * 32, algorithm="HS256")
    return signed.rpartition(".")[0] + "." + signature


def test_a_token_as_cloud_run_forwards_it_is_accepted() -> None:
    TaskTokenVerifier(_settings()).verify(f"Bearer {_token()}")


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (_token(signature="c2lnbmF0dXJl"), 401),  # still signed: it did not pass Cloud Run
        (_token(aud="https://other.run.app"), 401),
        (_token(iss="https://evil.example"), 401),
        (_token(exp=int(time.time()) - 120), 401),
        (_token(email="other@p.iam.gserviceaccount.com"), 403),
        (_token(email_verified=False), 403),
    ],
)
def test_tokens_with_wrong_claims_or_their_signature_on_are_refused(
    token: str, status: int
) -> None:
    with pytest.raises(AuthError) as refused:
        TaskTokenVerifier(_settings()).verify(f"Bearer {token}")
    assert refused.value.status == status


def test_publish_does_not_start_unless_the_invoker_check_is_declared_on() -> None:
    with pytest.raises(ValueError, match="TASKS_INVOKER_CHECK=on"):
        TaskTokenVerifier(_settings(invoker_check="off"))
