"""Threads' authorization window: the browser goes to `threads.com/oauth/authorize` and comes
back with a code; the server exchanges it at `POST graph.threads.net/oauth/access_token`
(form: client_id, client_secret, grant_type=authorization_code, redirect_uri, code) for a
short-lived token, then at `GET /access_token?grant_type=th_exchange_token` for a long-lived
one (60 days), which ThreadsConnector.verify takes
(developers.facebook.com/docs/threads/get-started/get-access-tokens-and-permissions).
"""

from __future__ import annotations

from urllib.parse import urlencode

from common.platforms.base import Login, LoginRefused
from common.platforms.meta.graph import GraphClient, GraphReply, granted_token
from common.platforms.oauth import Callback, OAuthClient, not_registered

SCOPES = ("threads_basic", "threads_content_publish")


class ThreadsAuthorizer:
    network = "threads"
    registers = False

    def __init__(
        self,
        unversioned: GraphClient,
        authorize_url: str,
        app_id: str | None,
        app_secret: str | None,
    ) -> None:
        """`unversioned`: graph.threads.net without a version (its OAuth paths have none)."""
        self._client = unversioned
        self._authorize = f"{authorize_url.rstrip('/')}/oauth/authorize"
        self._app_id = app_id
        self._secret = app_secret

    def client(self) -> OAuthClient | LoginRefused:
        if not self._app_id or not self._secret:
            return LoginRefused(
                "THREADS_APP_ID and THREADS_APP_SECRET are required", unavailable=True
            )
        return OAuthClient(self._app_id, self._secret)

    def register(self, server: str, redirect_uri: str) -> OAuthClient | LoginRefused:
        return not_registered(self.network)

    def authorize_url(self, client: OAuthClient, callback: Callback, state: str) -> str:
        query = {
            "client_id": client.client_id,
            "redirect_uri": callback.redirect_uri,
            "scope": ",".join(SCOPES),
            "response_type": "code",
            "state": state,
        }
        return f"{self._authorize}?{urlencode(query)}"

    def exchange(self, client: OAuthClient, callback: Callback, code: str) -> Login | LoginRefused:
        form = {
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "grant_type": "authorization_code",
            "redirect_uri": callback.redirect_uri,
            "code": code,
        }
        short = self._client.call("POST", "oauth/access_token", "", form, idempotent=False)
        if not isinstance(short, GraphReply):
            return LoginRefused.answered("Threads refused the login code", short)
        params = {
            "grant_type": "th_exchange_token",
            "client_secret": client.client_secret,
            "access_token": str(short.body.get("access_token") or ""),
        }
        long = self._client.call("GET", "access_token", "", params, idempotent=True)
        token = granted_token(
            long,
            "Threads refused the long-lived token exchange",
            "Threads answered the token exchange without a token",
        )
        return token if isinstance(token, LoginRefused) else Login(secret=token)
