"""Connecting accounts through each network's own page, over HTTP as a browser does: the web
function sends the person to the sandbox's Meta Login dialog, Threads authorization window or
Mastodon authorize page, and takes the code back once, for the member who began, exchanging
it with the identical redirect URI. The sandboxes refuse what the networks refuse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo.database import Database

from devstack.sandbox.control import MastodonSandbox, Sandbox
from tests.functions_fixtures import ADMIN_KEY, Served, serve
from tests.meta_support import meta_env
from tests.web_support import (
    TIMEOUT,
    WEB_SOURCE,
    Client,
    back_path,
    consent,
    network_page,
    web_env,
)

META_APP, META_SECRET = "1234", "app-secret"
THREADS_APP, THREADS_SECRET = "th-app-77", "th-secret"


@pytest.fixture(scope="module")
def site(
    mongo_uri: str, fn_db_name: str, fn_workdir: Path, sandbox_server: Sandbox
) -> Iterator[Served]:
    settings = {k: str(v) for k, v in meta_env(sandbox_server).items()}
    env = web_env(
        mongo_uri,
        fn_db_name,
        META_APP_ID=META_APP,
        META_APP_SECRET=META_SECRET,
        META_DIALOG_URL=sandbox_server.url,
        THREADS_AUTHORIZE_URL=sandbox_server.url,
        THREADS_APP_ID=THREADS_APP,
        THREADS_APP_SECRET=THREADS_SECRET,
        **settings,
    )
    with serve("web", WEB_SOURCE, env, fn_workdir) as served:
        yield served


def signed_in(site: Served) -> Client:
    client = Client(site.url)
    assert client.sign_in(ADMIN_KEY).status_code == 303
    client.get("/accounts")
    return client


def callback(site: Served, network: str) -> str:
    return f"{site.url}/accounts/oauth/{network}/callback"


def start(client: Client, network: str, **form: str) -> str:
    leaving = client.post(f"/accounts/oauth/{network}/start", form)
    assert leaving.status_code == 200, leaving.text[:500]
    return network_page(leaving)


def test_meta_login_dialog_connects_the_pages_and_a_code_works_once(
    site: Served, sandbox: Sandbox, fresh_db: Database[Any]
) -> None:
    sandbox.add_account("page-5", "page", "page-5-token", name="Bakery")
    sandbox.add_account("ig-5", "instagram", "page-5-token", name="bakery.ig", page="page-5")
    sandbox.add_user("short-user-5", ["page-5"])
    sandbox.add_app(META_APP, META_SECRET, [callback(site, "meta")])
    client = signed_in(site)
    dialog = start(client, "meta")
    assert dialog.startswith(f"{sandbox.url}/v25.0/dialog/oauth?")
    back = consent(dialog, "short-user-5")
    assert back.status_code == 302
    path = back_path(back, site.url)
    connected = client.get(path)
    assert connected.status_code == 200
    assert "Bakery (facebook, fb-page-5): connected" in connected.text
    assert "Bakery (Instagram) (instagram, ig-ig-5): connected" in connected.text
    assert sorted(a["_id"] for a in fresh_db["accounts"].find()) == ["fb-page-5", "ig-ig-5"]
    again = client.get(path)  # the browser's back button, or a replayed link
    assert again.status_code == 422 and "start again" in again.text
    assert fresh_db["connect_flows"].count_documents({}) == 0


def test_meta_refuses_a_redirect_uri_not_registered_and_a_code_for_another_uri(
    site: Served, sandbox: Sandbox, fresh_db: Database[Any]
) -> None:
    sandbox.add_account("page-6", "page", "page-6-token")
    sandbox.add_user("short-user-6", ["page-6"])
    sandbox.add_app(META_APP, META_SECRET, [callback(site, "meta")])
    client = signed_in(site)
    dialog = start(client, "meta")
    elsewhere = dialog.replace("callback", "callbacks")
    blocked = requests.get(elsewhere, timeout=TIMEOUT)
    assert blocked.status_code == 400 and "URL Blocked" in blocked.text
    code = back_path(consent(dialog, "short-user-6"), site.url).split("code=")[1].split("&")[0]
    exchange = f"{sandbox.url}/v25.0/oauth/access_token"
    asked = {"client_id": META_APP, "client_secret": META_SECRET, "code": code}
    wrong_uri = requests.get(
        exchange, params={**asked, "redirect_uri": callback(site, "meta") + "/"}, timeout=TIMEOUT
    )
    assert wrong_uri.json()["error"]["error_subcode"] == 36008
    right = {**asked, "redirect_uri": callback(site, "meta")}
    assert requests.get(exchange, params=right, timeout=TIMEOUT).json()["access_token"]
    reused = requests.get(exchange, params=right, timeout=TIMEOUT).json()["error"]
    assert (reused["code"], reused["error_subcode"]) == (100, 36009)
    assert fresh_db["accounts"].count_documents({}) == 0


def test_a_flow_is_taken_only_by_the_member_who_began_it_and_a_refusal_connects_nothing(
    site: Served, sandbox: Sandbox, fresh_db: Database[Any]
) -> None:
    sandbox.add_account("page-7", "page", "page-7-token")
    sandbox.add_user("short-user-7", ["page-7"])
    sandbox.add_app(META_APP, META_SECRET, [callback(site, "meta")])
    began, other = signed_in(site), signed_in(site)
    path = back_path(consent(start(began, "meta"), "short-user-7"), site.url)
    assert other.get(path).status_code == 422  # another session: not its flow
    declined = back_path(consent(start(began, "meta"), ""), site.url)
    answer = began.get(declined)
    assert answer.status_code == 422 and "not connected: Permissions error" in answer.text
    assert fresh_db["accounts"].count_documents({}) == 0


def test_threads_authorization_exchanges_the_code_for_a_long_lived_token(
    site: Served, sandbox: Sandbox, fresh_db: Database[Any]
) -> None:
    sandbox.add_account("3141", "threads", "threads-long-3141", name="corner.shop")
    sandbox.add_app(THREADS_APP, THREADS_SECRET, [callback(site, "threads")], kind="threads")
    client = signed_in(site)
    window = start(client, "threads", accountId="th-corner")
    assert window.startswith(f"{sandbox.url}/oauth/authorize?")
    assert "scope=threads_basic%2Cthreads_content_publish" in window
    no_scope = requests.get(window.replace("scope=", "scope=x"), timeout=TIMEOUT)
    assert no_scope.status_code == 400
    connected = client.get(back_path(consent(window, "3141"), site.url))
    assert "corner.shop (threads, th-corner): connected" in connected.text
    stored = fresh_db["accounts"].find_one({"_id": "th-corner"})
    assert stored is not None and stored["externalId"] == "3141"
    assert "threads-long-3141" not in str(stored)  # encrypted
    asked = sandbox.requests()
    assert asked["POST oauth/access_token"] == 1 and asked["GET access_token"] == 1


def test_mastodon_registers_the_app_once_per_instance_and_connects_the_account(
    site: Served, mastodon: MastodonSandbox, fresh_db: Database[Any]
) -> None:
    mastodon.add_account("corner", "old-token")
    client = signed_in(site)
    page = start(client, "mastodon", server=mastodon.url + "/")
    assert page.startswith(f"{mastodon.url}/oauth/authorize?")
    wrong = requests.get(page.replace("callback", "elsewhere"), timeout=TIMEOUT)
    assert wrong.status_code == 400 and "redirect uri included is not valid" in wrong.text
    connected = client.get(back_path(consent(page, next_account(page)), site.url))
    assert connected.status_code == 200 and "(mastodon, masto-" in connected.text
    [account] = list(fresh_db["accounts"].find())
    assert account["platform"] == "mastodon" and account["token"] != "old-token"
    again = client.get(
        back_path(
            consent(start(client, "mastodon", server=mastodon.url), next_account(page)), site.url
        )
    )
    assert "re-authenticated" in again.text
    assert mastodon.requests()["POST v1/apps"] == 1  # the instance's app is kept
    assert mastodon.requests()["POST oauth/token"] == 2
    assert fresh_db["oauth_clients"].count_documents({}) == 1


def next_account(page_url: str) -> str:
    """The sandbox instance's one account, as its authorize page offers it."""
    found = requests.get(page_url, timeout=TIMEOUT).text
    return found.split('name="as" value="', 1)[1].split('"', 1)[0]
