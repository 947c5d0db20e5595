"""Google Sign-In against the stand-in OpenID provider: the real client code (authlib, PKCE,
state, nonce, issuer and audience checks) in the web function, driven over HTTP; members only,
with the role an admin gave them."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from pymongo.database import Database

from common import members
from common.clock import utcnow
from devstack.oidc import control as oidc_control
from devstack.processes import free_port
from tests.functions_fixtures import Served, serve
from tests.web_support import PAGE, TIMEOUT, WEB_SOURCE, web_env

CLIENT_ID = "web-client.apps.example.test"
# A leading "-", as one random secret in 64 has: the provider once read it as an option and
# would not start (the local stack's start then failed in one CI run).
CLIENT_SECRET = "-client-secret-for-tests-" + "c" * 20


@pytest.fixture(scope="module")
def signin_site(mongo_uri: str, fn_db_name: str, fn_workdir: Path) -> Iterator[tuple[Served, str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with oidc_control.running(CLIENT_ID, CLIENT_SECRET, f"{base}/signin/oidc/callback") as issuer:
        env = web_env(
            mongo_uri,
            fn_db_name,
            WEB_BASE_URL=base,
            OIDC_ISSUER=issuer,
            OIDC_CLIENT_ID=CLIENT_ID,
            OIDC_CLIENT_SECRET=CLIENT_SECRET,
        )
        with serve("web", WEB_SOURCE, env, fn_workdir, port=port) as served:
            yield served, issuer


def _cookie(response: requests.Response, name: str) -> str:
    for part in response.headers.get("Set-Cookie", "").split(","):
        if part.strip().startswith(f"{name}="):
            return part.strip().split(";")[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie in {response.headers.get('Set-Cookie')}")


def sign_in_through_provider(
    site: Served, email: str, *, verified: bool = True, tamper: str | None = None
) -> requests.Response:
    """What a browser does: to the provider, the account chooser, back with a code."""
    start = requests.get(f"{site.url}/signin/oidc", allow_redirects=False, timeout=TIMEOUT)
    assert start.status_code == 303, start.text
    flow = _cookie(start, "__Host-signin-flow")
    asked = dict(parse_qsl(urlsplit(start.headers["Location"]).query))
    assert asked["code_challenge_method"] == "S256" and asked["nonce"] and asked["state"]
    provider = start.headers["Location"].split("?")[0].removesuffix("/authorize")
    chosen = {**asked, "email": email, **({"email_verified": "on"} if verified else {})}
    back = requests.post(
        f"{provider}/authorize/approve", data=chosen, allow_redirects=False, timeout=TIMEOUT
    )
    assert back.status_code == 302
    answer = dict(parse_qsl(urlsplit(back.headers["Location"]).query))
    if tamper is not None:
        answer["state"] = tamper
    return requests.get(
        f"{site.url}/signin/oidc/callback",
        params=answer,
        headers={"Cookie": f"__Host-signin-flow={flow}", "Accept": PAGE},
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def test_a_member_signs_in_with_google_and_gets_their_role(
    signin_site: tuple[Served, str], fresh_db: Database[Any]
) -> None:
    site, _ = signin_site
    members.put(fresh_db, "Ana@Example.test", "editor", "admin_key", utcnow())
    answer = sign_in_through_provider(site, "ana@example.test")
    assert answer.status_code == 303 and answer.headers["Location"] == "/calendar"
    token = _cookie(answer, "__Host-session")
    page = requests.get(
        f"{site.url}/calendar",
        headers={"Cookie": f"__Host-session={token}", "Accept": PAGE},
        timeout=TIMEOUT,
    )
    assert "ana@example.test · editor" in page.text
    session = fresh_db["web_sessions"].find_one({"who": "member:ana@example.test"})
    assert session is not None and session["role"] == "editor"
    assert fresh_db["web_sessions"].count_documents({"flow": {"$exists": True}}) == 0


def test_strangers_unverified_addresses_and_forged_states_are_refused(
    signin_site: tuple[Served, str], fresh_db: Database[Any]
) -> None:
    site, _ = signin_site
    members.put(fresh_db, "ana@example.test", "viewer", "admin_key", utcnow())
    stranger = sign_in_through_provider(site, "eve@example.test")
    assert stranger.status_code == 403 and "not a member" in stranger.text
    unverified = sign_in_through_provider(site, "ana@example.test", verified=False)
    assert unverified.status_code == 401 and "did not vouch" in unverified.text
    forged = sign_in_through_provider(site, "ana@example.test", tamper="forged-state")
    assert forged.status_code == 401 and "state does not match" in forged.text
    no_flow = requests.get(
        f"{site.url}/signin/oidc/callback",
        params={"code": "x", "state": "y"},
        headers={"Accept": PAGE},
        timeout=TIMEOUT,
    )
    assert no_flow.status_code == 401 and "expired or was used" in no_flow.text
    assert fresh_db["web_sessions"].count_documents({"who": {"$exists": True}}) == 0
    assert [e["status"] for e in fresh_db["audit"].find().sort("at", 1)] == [403, 401, 401, 401]


def test_the_provider_refuses_a_wrong_verifier_and_an_unregistered_redirect(
    signin_site: tuple[Served, str],
) -> None:
    _, issuer = signin_site
    wrong_redirect = requests.get(
        f"{issuer}/authorize",
        params={
            "client_id": CLIENT_ID,
            "redirect_uri": "https://evil.test/cb",
            "response_type": "code",
            "scope": "openid email",
        },
        timeout=TIMEOUT,
    )
    assert wrong_redirect.status_code == 400 and "redirect_uri_mismatch" in wrong_redirect.text
    token = requests.post(
        f"{issuer}/token",
        data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": "x"},
        auth=(CLIENT_ID, "wrong-secret"),
        timeout=TIMEOUT,
    )
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"


def test_the_provider_refuses_a_code_without_its_pkce_verifier(
    signin_site: tuple[Served, str],
) -> None:
    site, issuer = signin_site
    redirect_uri = f"{site.url}/signin/oidc/callback"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"right" * 10).digest()).rstrip(b"=")
    asked = {
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "openid email",
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
        "email": "ana@example.test",
    }

    def code() -> str:
        back = requests.post(
            f"{issuer}/authorize/approve", data=asked, allow_redirects=False, timeout=TIMEOUT
        )
        return dict(parse_qsl(urlsplit(back.headers["Location"]).query))["code"]

    def exchange(verifier: str) -> requests.Response:
        body = {
            "grant_type": "authorization_code",
            "code": code(),
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        return requests.post(
            f"{issuer}/token", data=body, auth=(CLIENT_ID, CLIENT_SECRET), timeout=TIMEOUT
        )

    assert exchange("wrong" * 10).json()["error"] == "invalid_grant"
    assert "id_token" in exchange("right" * 10).json()
