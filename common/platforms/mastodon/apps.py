"""Mastodon's authorization: our app is registered on each instance (`POST /api/v1/apps` with
the exact redirect URI and the scopes), the browser goes to the instance's `/oauth/authorize`
and comes back with a code, exchanged at `POST /oauth/token` (grant_type=authorization_code,
the same redirect URI and scope) for a token that does not expire
(docs.joinmastodon.org/methods/apps, /methods/oauth, /client/token). The caller keeps each
instance's registration (common.oauth_clients), so an instance sees one app, not one per login.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from common.platforms import public_hosts
from common.platforms.base import Login, LoginRefused
from common.platforms.mastodon.client import MastodonClient, MastodonReply
from common.platforms.oauth import Callback, OAuthClient

# What MastodonConnector needs (posting, media, finding a post again, who the account is).
SCOPES = "write:statuses write:media read:statuses profile"
APP_NAME = "Social scheduler"


class MastodonAuthorizer:
    network = "mastodon"
    registers = True

    def __init__(
        self, client: MastodonClient, website: str | None = None, *, allow_private: bool
    ) -> None:
        self._client = client
        self._website = website
        self._allow_private = allow_private  # the instance is a person's word: public_hosts

    def client(self) -> OAuthClient | LoginRefused:
        return LoginRefused("a Mastodon app is registered on each instance first")

    def register(self, server: str, redirect_uri: str) -> OAuthClient | LoginRefused:
        if not _is_instance(server):
            return LoginRefused("the instance must be an http(s) URL, e.g. https://mastodon.social")
        refused = public_hosts.refusal(server, allow_private=self._allow_private)
        if refused:
            return LoginRefused(f"the instance cannot be used: {refused}")
        body = {"client_name": APP_NAME, "redirect_uris": [redirect_uri], "scopes": SCOPES}
        if self._website:
            body["website"] = self._website
        reply = self._client.call("POST", server, "v1/apps", "", body=body, idempotent=False)
        if not isinstance(reply, MastodonReply):
            return LoginRefused.answered("the instance refused to register the app", reply)
        client_id, secret = reply.body.get("client_id"), reply.body.get("client_secret")
        if not client_id or not secret:
            return LoginRefused("the instance registered the app without its credentials")
        return OAuthClient(str(client_id), str(secret))

    def authorize_url(self, client: OAuthClient, callback: Callback, state: str) -> str:
        query = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": callback.redirect_uri,
            "scope": SCOPES,
            "state": state,
        }
        return f"{(callback.server or '').rstrip('/')}/oauth/authorize?{urlencode(query)}"

    def exchange(self, client: OAuthClient, callback: Callback, code: str) -> Login | LoginRefused:
        server = callback.server or ""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "redirect_uri": callback.redirect_uri,
            "scope": SCOPES,
        }
        reply = self._client.call(
            "POST", server, "oauth/token", "", body=form, idempotent=False, under_api=False
        )
        if not isinstance(reply, MastodonReply):
            return LoginRefused.answered("the instance refused the login code", reply)
        token = str(reply.body.get("access_token") or "")
        if not token:
            return LoginRefused("the instance answered the code exchange without a token")
        return Login(secret=token, server=server)


def _is_instance(server: str) -> bool:
    return server.startswith(("https://", "http://")) and bool(urlsplit(server).netloc)
