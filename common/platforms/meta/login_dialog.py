"""Meta's Login dialog (Facebook Login, and Facebook Login for Business with a configuration
id): the browser goes to `www.facebook.com/{version}/dialog/oauth` and comes back with a code,
which the server exchanges at `GET /oauth/access_token` with the app secret and the identical
redirect URI (developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow). The
short-lived user token it gives is what MetaConnector.verify takes: it exchanges it for a
long-lived one and reads the Pages.
"""

from __future__ import annotations

from urllib.parse import urlencode

from common.platforms.base import Login, LoginRefused
from common.platforms.meta.connector import MetaApp
from common.platforms.meta.graph import GraphClient, granted_token
from common.platforms.oauth import Callback, OAuthClient, not_registered

# What publishing to Pages and their Instagram accounts needs (without a Login for Business
# configuration, which names its own permissions).
SCOPES = (
    "pages_show_list",
    "pages_read_engagement",
    "pages_manage_posts",
    "business_management",
    "instagram_basic",
    "instagram_content_publish",
)


class MetaAuthorizer:
    network = "meta"
    registers = False

    def __init__(
        self,
        client: GraphClient,
        app: MetaApp,
        dialog_url: str,
        version: str,
        config_id: str | None = None,
    ) -> None:
        self._client = client
        self._app = app
        self._dialog = f"{dialog_url.rstrip('/')}/{version}/dialog/oauth"
        self._config_id = config_id

    def client(self) -> OAuthClient | LoginRefused:
        if not self._app.app_id or not self._app.secret:
            return LoginRefused("META_APP_ID and META_APP_SECRET are required", unavailable=True)
        return OAuthClient(self._app.app_id, self._app.secret)

    def register(self, server: str, redirect_uri: str) -> OAuthClient | LoginRefused:
        return not_registered(self.network)

    def authorize_url(self, client: OAuthClient, callback: Callback, state: str) -> str:
        asked = {"config_id": self._config_id} if self._config_id else {"scope": ",".join(SCOPES)}
        query = {
            "client_id": client.client_id,
            "redirect_uri": callback.redirect_uri,
            "state": state,
            "response_type": "code",
            **asked,
        }
        return f"{self._dialog}?{urlencode(query)}"

    def exchange(self, client: OAuthClient, callback: Callback, code: str) -> Login | LoginRefused:
        params = {
            "client_id": client.client_id,
            "redirect_uri": callback.redirect_uri,
            "client_secret": client.client_secret,
            "code": code,
        }
        # A code is used once: a lost answer is not asked again (idempotent=False).
        reply = self._client.call("GET", "oauth/access_token", "", params, idempotent=False)
        token = granted_token(
            reply, "Meta refused the login code", "Meta answered the code exchange without a token"
        )
        return token if isinstance(token, LoginRefused) else Login(secret=token)
