"""The accounts resource's shapes and routes: /v1/accounts, :connect, {id}:check, {id}:setSlots."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from common.entrypoints.api.shapes.operation import Answer, Operation
from common.model import AccountStatus
from common.schema import shape, spec
from common.slots import MAX_SLOTS

# accounts.PLATFORMS as a type (a test keeps them equal).
Platform = Literal["facebook", "instagram", "threads", "bluesky", "mastodon"]


Network = Literal["meta", "threads", "bluesky", "mastodon"]


MAX_LOGIN_FIELD = 4096


@shape
class PostingSlots:
    """An account's weekly posting slots: `"queue"` as a post's `scheduledAt` takes the next
    free one. A slot the clock skips or shows twice that day is not offered that day."""

    time_zone: str = spec(minLength=1, description="an IANA zone, e.g. Europe/Berlin")
    slots: tuple[str, ...] = spec(
        minItems=1, maxItems=MAX_SLOTS, description="weekday@HH:MM, e.g. mon@09:00"
    )


@shape
class Account:
    id: str
    platform: Platform
    external_id: str
    name: str
    status: AccountStatus
    paused_until: datetime | None
    token_expires_at: datetime | None


@shape
class AccountList:
    accounts: tuple[Account, ...]


# Every field of a login: text, left out rather than null.
LOGIN_FIELD = spec(default=None, nullable=False, minLength=1, maxLength=MAX_LOGIN_FIELD)


@shape
class ConnectRequest:
    """A login of one network, with that network's fields (`LOGIN_FIELDS`): meta `userToken`
    (a login's short-lived token; the app secret exchanges it server side) and `pages` (some of
    its Pages; every Page without); threads `accessToken` (a long-lived token); bluesky
    `handle`, `appPassword` and `pds` (default https://bsky.social); mastodon `instance` and
    `accessToken`. `accountId` names the account of a login that grants one."""

    network: Network = "meta"
    account_id: str | None = spec(
        default=None, nullable=False, minLength=1, maxLength=MAX_LOGIN_FIELD
    )
    user_token: str | None = spec(
        default=None, nullable=False, minLength=1, maxLength=MAX_LOGIN_FIELD
    )
    pages: tuple[str, ...] | None = spec(default=None, nullable=False, minItems=1)
    access_token: str | None = spec(
        default=None, nullable=False, minLength=1, maxLength=MAX_LOGIN_FIELD
    )
    instance: str | None = spec(
        default=None, nullable=False, minLength=1, maxLength=MAX_LOGIN_FIELD
    )
    handle: str | None = LOGIN_FIELD
    app_password: str | None = spec(
        default=None, nullable=False, minLength=1, maxLength=MAX_LOGIN_FIELD
    )
    pds: str | None = LOGIN_FIELD


# network: the field that carries its secret (required), and the other login fields it takes.
LOGIN_FIELDS: Mapping[str, tuple[str, frozenset[str]]] = {
    "meta": ("userToken", frozenset({"pages"})),
    "threads": ("accessToken", frozenset()),
    "mastodon": ("accessToken", frozenset({"instance"})),
    "bluesky": ("appPassword", frozenset({"handle", "pds"})),
}


@shape
class ConnectedAccount:
    id: str
    platform: Platform
    external_id: str
    name: str
    added: bool = spec(description="false: an existing account got the new credential")
    posts_released: int = spec(minimum=0, description="its held posts, due again now")


@shape
class Connected:
    accounts: tuple[ConnectedAccount, ...]


@shape
class TokenHealth:
    account_id: str
    platform: Platform
    valid: bool
    expires_at: datetime | None
    problem: str | None


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "/v1/accounts",
        "GET",
        "list_accounts",
        "posts:read",
        "Connected accounts (those a limited key may use)",
        (Answer(200, "The accounts.", (AccountList,)),),
    ),
    Operation(
        "/v1/accounts:connect",
        "POST",
        "connect_accounts",
        "accounts:write",
        "Connect the accounts a login grants, or re-authenticate them",
        (Answer(200, "The accounts stored.", (Connected,)),),
        body=(ConnectRequest,),
        refusals=(422,),
        description="On a key not limited to accounts. The login is checked with its network "
        "before anything is stored. Meta grants `fb-<page id>` and `ig-<instagram id>` "
        "accounts. An existing account with the same identity gets the new credential and its "
        "held posts are due again (`postsReleased`); an existing id with another identity "
        "refuses the login. A login the network refuses: 422; one it could not judge (network "
        "unreachable, app not configured): 503.",
    ),
    Operation(
        "/v1/accounts/{id}:check",
        "POST",
        "check_account",
        "accounts:write",
        "Ask the account's network whether its credential still works (Threads tokens are "
        "refreshed when due)",
        (Answer(200, "The credential's health.", (TokenHealth,)),),
    ),
    Operation(
        "/v1/accounts/{id}:setSlots",
        "POST",
        "set_slots",
        "accounts:write",
        "Replace the account's posting slots (posts already in a slot stay where they are)",
        (Answer(200, "The slots as stored.", (PostingSlots,)),),
        body=(PostingSlots,),
    ),
)
