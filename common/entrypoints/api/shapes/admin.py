"""The deployment's own routes, for admins only: the execution lock and the API keys (the CLI's
`lock` and `keys` commands in remote mode)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from common.apikeys import MAX_NAME_LENGTH
from common.entrypoints.api.shapes.operation import Answer, Operation
from common.schema import shape, spec

# apikeys.SCOPES as a type (a test keeps them equal).
Scope = Literal["posts:read", "posts:write", "posts:approve", "accounts:write", "admin"]
MAX_KEY_ACCOUNTS = 1000


@shape
class LockState:
    """The execution lock: free, or who holds it and until when (`expired`: a stuck lock a
    release without `force` may free)."""

    held: bool
    holder: str | None = spec(default=None, nullable=False, description="the run's id")
    acquired_at: datetime | None = spec(default=None, nullable=False)
    expires_at: datetime | None = spec(default=None, nullable=False)
    expired: bool | None = spec(default=None, nullable=False)


@shape
class LockRelease:
    force: bool = spec(
        default=False, description="release a live lock too (only when no run is alive)"
    )


@shape
class LockReleased:
    released: bool = spec(description="false: the lock was free, or held and not expired")


@shape
class NewKey:
    """A key with these scopes, for every account or only for `accounts`."""

    name: str = spec(minLength=1, maxLength=MAX_NAME_LENGTH, description="who or what uses it")
    scopes: tuple[Scope, ...] = spec(minItems=1)
    accounts: tuple[str, ...] | None = spec(
        default=None, nullable=False, minItems=1, maxItems=MAX_KEY_ACCOUNTS
    )


@shape
class ApiKey:
    """A key as it is kept: never its secret, nor the secret's hash."""

    id: str
    name: str
    scopes: tuple[Scope, ...]
    accounts: tuple[str, ...] | None = spec(description="null: every account")
    created_at: datetime
    revoked_at: datetime | None


@shape
class CreatedKey:
    id: str
    name: str
    scopes: tuple[Scope, ...]
    accounts: tuple[str, ...] | None = spec(description="null: every account")
    created_at: datetime
    revoked_at: datetime | None
    key: str = spec(description="the whole key (`sk_<id>_<secret>`), shown this once only")
    warnings: tuple[str, ...] = spec(
        description="e.g. an account the key names that is not connected (a misspelt id?)"
    )


@shape
class KeyList:
    keys: tuple[ApiKey, ...]


@shape
class KeyRevoked:
    id: str
    revoked: bool


ADMIN_ONLY = (
    "Not on a key limited to accounts: these act on the whole deployment (and a key made here "
    "may be for any account)."
)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "/v1/lock",
        "GET",
        "get_lock",
        "admin",
        "The execution lock: who holds it, and until when",
        (Answer(200, "The lock's state.", (LockState,)),),
        description=ADMIN_ONLY,
    ),
    Operation(
        "/v1/lock:release",
        "POST",
        "release_lock",
        "admin",
        "Release a stuck execution lock (an expired one; a live one only with `force`)",
        (Answer(200, "Whether the lock was released.", (LockReleased,)),),
        body=(LockRelease,),
        body_required=False,
        description=ADMIN_ONLY,
    ),
    Operation(
        "/v1/keys",
        "GET",
        "list_keys",
        "admin",
        "The API keys, their scopes and accounts (never a secret or its hash)",
        (Answer(200, "The keys, oldest first.", (KeyList,)),),
        description=ADMIN_ONLY,
    ),
    Operation(
        "/v1/keys",
        "POST",
        "create_key",
        "admin",
        "Make an API key; its secret is in this answer only",
        (Answer(201, "The key, with its secret (kept only as a hash).", (CreatedKey,)),),
        body=(NewKey,),
        description=ADMIN_ONLY,
    ),
    Operation(
        "/v1/keys/{id}:revoke",
        "POST",
        "revoke_key",
        "admin",
        "Stop a key working at once",
        (Answer(200, "The key is revoked.", (KeyRevoked,)),),
        description=ADMIN_ONLY + " A key already revoked, or none: 404.",
    ),
)
