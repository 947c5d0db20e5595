"""Who may call the publish function: Cloud Tasks, with the OIDC token of the tasks service
account, as Cloud Run forwards it.

The model (see infra/terraform/README.md): Cloud Run's invoker IAM check is on for the publish
service and only the tasks service account holds `roles/run.invoker` on it, with internal
ingress. Cloud Run verifies the token (signature, expiry, audience) and the caller's IAM role
before the request reaches the container, then replaces the token's signature with
`SIGNATURE_REMOVED_BY_GOOGLE`, so the signature cannot be verified here again. This module
checks the forwarded claims: the issuer, the audience, the tasks account's verified `email` and
the expiry, and that Cloud Run did remove the signature (a token with its signature still on
did not pass the invoker check: the check is off or the request came another way).

It refuses to work unless the deployment declares the invoker check on (TASKS_INVOKER_CHECK=on):
without that check, claims read from an unsigned token prove nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt as pyjwt

from common.config import Settings
from common.entrypoints.auth import AuthError

ISSUERS = ("accounts.google.com", "https://accounts.google.com")
# What Cloud Run puts in place of the signature of a token it has verified.
SIGNATURE_REMOVED = "SIGNATURE_REMOVED_BY_GOOGLE"
CLOCK_SKEW_SECONDS = 30
MAX_TOKEN_LENGTH = 4096
UNAUTHENTICATED = "Missing or invalid OIDC token"
FORBIDDEN = "Token is not the tasks service account's"
_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "email"]


class TaskTokenVerifier:
    def __init__(self, settings: Settings) -> None:
        if not (settings.task_audience and settings.tasks_service_account):
            raise ValueError(
                "the publish function needs TASKS_TARGET_URL and TASKS_SERVICE_ACCOUNT"
            )
        if not settings.tasks_invoker_check:
            raise ValueError(
                "the publish function trusts Cloud Run's invoker IAM check: deploy it with the "
                "check on and TASKS_INVOKER_CHECK=on"
            )
        self._audience = settings.task_audience
        self._email = settings.tasks_service_account

    def verify(self, header: str | None) -> None:
        """Raise AuthError unless the header carries the tasks account's token as Cloud Run
        forwards it."""
        claims = self._claims(_bearer(header))
        if claims.get("email") != self._email or claims.get("email_verified") is not True:
            raise AuthError(403, FORBIDDEN)

    def _claims(self, token: str) -> Mapping[str, Any]:
        if token.rpartition(".")[2] != SIGNATURE_REMOVED:
            raise AuthError(401, UNAUTHENTICATED)
        options: pyjwt.types.Options = {
            # Cloud Run verified the signature and removed it; everything else is checked here.
            "verify_signature": False,
            "verify_exp": True,
            "verify_iat": True,
            "verify_aud": True,
            "verify_iss": True,
            "require": _REQUIRED_CLAIMS,
        }
        try:
            claims: Mapping[str, Any] = pyjwt.decode(
                token,
                options=options,
                audience=self._audience,
                issuer=ISSUERS,
                leeway=CLOCK_SKEW_SECONDS,
            )
        except pyjwt.PyJWTError as exc:
            raise AuthError(401, UNAUTHENTICATED) from exc
        return claims


def _bearer(header: str | None) -> str:
    if not header or len(header) > MAX_TOKEN_LENGTH + 7:
        raise AuthError(401, UNAUTHENTICATED)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or token.count(".") != 2:
        raise AuthError(401, UNAUTHENTICATED)
    return token.strip()
