"""One authenticated request of the api as its handlers see it, and what they share to read it."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Request, Response
from pymongo.database import Database

from common.config import Settings
from common.db import Doc, get_database
from common.entrypoints import web
from common.entrypoints.auth import Caller
from common.entrypoints.request_scope import RequestScope
from common.operations.admission import Admission, deployment_admission
from common.platforms.base import Registry
from common.platforms.registry import default_registry
from common.storage import MediaBucket, storage_config
from common.tokens import TokenCipher, TokenKeyError

log = logging.getLogger(__name__)

# A full batch of 1,000 posts with room for text; anything larger is refused unread.
MAX_BODY_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class ApiService:
    settings: Settings

    @property
    def db(self) -> Database[Doc]:
        return get_database(self.settings)

    @functools.cached_property
    def bucket(self) -> MediaBucket | None:
        """The media bucket's client, made on the first media request of this instance."""
        config = storage_config(self.settings)
        return MediaBucket(config) if config else None

    @functools.cached_property
    def registry(self) -> Registry:
        """The networks' publishers and connectors, made on first use by this instance.
        Raises TokenKeyError when TOKEN_ENCRYPTION_KEY is malformed."""
        return default_registry(self.settings)

    @property
    def cipher(self) -> TokenCipher:
        return TokenCipher.from_settings(self.settings)

    @functools.cached_property
    def admission(self) -> Admission:
        """How posts are let in: the lateness limit, media URLs checked at the door, and
        (DISPATCH=tasks) a task at once for a post due before the next tick."""
        return deployment_admission(self.settings)


@dataclass(frozen=True)
class Call(RequestScope):
    """One authenticated request, as a route handler sees it."""

    request: Request
    rid: str
    service: ApiService
    caller: Caller
    now: datetime
    path_id: str

    @property
    def who(self) -> str:
        return self.caller.who


RouteHandler = Callable[[Call], Response]


def read_body(request: Request) -> dict[str, Any]:
    return web.read_json_object(request, MAX_BODY_BYTES) or {}


def refuse_body(request: Request) -> None:
    """An action of the path alone: a body field would be ignored, so it is refused."""
    if read_body(request):
        raise web.HttpError(400, "This action takes no body fields")


@contextmanager
def token_key() -> Iterator[None]:
    """TOKEN_ENCRYPTION_KEY unset or malformed: the deployment's problem, said without detail."""
    try:
        yield
    except TokenKeyError as exc:
        log.error("token encryption unusable", extra={"reason": str(exc)})
        raise web.HttpError(503, "Token encryption is not configured on the server") from exc
