"""The one seam toward social networks: the Publisher and Connector protocols, the outcome
taxonomy and the credential health types.

Adapters map every platform response to exactly one outcome below; the engine decides on the
outcome alone and never looks at raw status codes. Use cases never branch on a network's name:
they ask the registry for the network's Publisher (publishing, reading back) or Connector
(verifying a login, inspecting and refreshing a stored credential).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from common.media_rules import MastodonInstanceLimits
from common.model import Account, Post


@dataclass(frozen=True)
class Published:
    """On the platform. `refs`: what else a reply to it must name (Bluesky's record `cid`),
    stored in the post's `remote` with the outcome."""

    platform_post_id: str
    refs: Mapping[str, str] | None = None


@dataclass(frozen=True)
class RateLimited:
    """Try again at `retry_at` without spending the attempt.

    `account_wide`: the limit is the account's (throttling, publishing quota), so its other posts
    wait too; False when only this post must wait (its media is still processing).
    """

    retry_at: datetime
    reason: str = "rate limited"
    account_wide: bool = True


@dataclass(frozen=True)
class Retryable:
    """A transient failure; the engine retries with backoff.

    `after_send`: the platform answered the non-idempotent call itself with a transient error.
    Meta sometimes applies such a write anyway, so an adapter must look before it lets this
    reach the engine (and turn it into Published, or Ambiguous when it cannot look).
    """

    reason: str
    after_send: bool = False


@dataclass(frozen=True)
class AuthExpired:
    """The account's token no longer works; its posts wait for re-authentication."""

    reason: str


@dataclass(frozen=True)
class Permanent:
    """The platform refused the post for good (validation, permissions, duplicate content)."""

    code: str
    message: str


@dataclass(frozen=True)
class Ambiguous:
    """The request may have been applied (timeout after send): never re-posted blindly."""

    reason: str


@dataclass(frozen=True)
class Deferred:
    """Nothing was sent, and neither the post nor the account is at fault: try again at
    `retry_at` without spending the attempt or pausing the account's other posts.

    For the deployment's problems (TOKEN_ENCRYPTION_KEY cannot open the stored credential):
    `code` is what the post records, so an operator reads the real cause, not a rate limit.
    """

    retry_at: datetime
    code: str
    reason: str


@dataclass(frozen=True)
class Withdrawn:
    """Nothing was sent: the post was cancelled or edited, or this run lost its lease."""

    reason: str


Outcome = (
    Published | RateLimited | Retryable | AuthExpired | Permanent | Ambiguous | Deferred | Withdrawn
)
# What a network client answers instead of a reply: the failures of the taxonomy.
Failure = RateLimited | Retryable | AuthExpired | Permanent | Ambiguous


def failure_reason(failure: Failure | Deferred) -> str:
    """What an operator reads about a failure (every client has already redacted it)."""
    return failure.message if isinstance(failure, Permanent) else failure.reason


class PublishContext(Protocol):
    """What the engine offers an adapter while it publishes one post."""

    def record_remote(self, remote: Mapping[str, str]) -> bool:
        """Store ids obtained from the platform (container ids...) on the post.

        Returns False when the post is no longer this run's to publish; the adapter then stops
        and returns Withdrawn.
        """
        ...

    def begin_send(self, remote: Mapping[str, str] | None = None) -> bool:
        """Call right before the one non-idempotent request.

        Stores `remote`, re-checks the post's version and this run's lease, and marks the post as
        possibly sent. False means the post was cancelled, edited or taken over: do not send.
        """
        ...

    def seconds_left(self) -> float:
        """Time left in the run's budget; long waits (media processing) must fit in it."""
        ...


class Publisher(Protocol):
    """A social network adapter."""

    platform: str

    def publish(self, post: Post, account: Account, ctx: PublishContext) -> Outcome:
        """Publish one post; every failure comes back as an outcome, never as an exception."""
        ...

    def find_published(self, post: Post, account: Account) -> Published | None:
        """Look for the post on the platform after a send whose result is not known."""
        ...


# invalid: Meta says the token no longer works (the account needs re-authentication);
# expiring: valid, but within EXPIRY_WARNING of its end; key_error: TOKEN_ENCRYPTION_KEY cannot
# open the stored token (the deployment's problem, not the account's); check_failed: Meta could
# not be asked, so nothing is known either way.
ProblemKind = Literal["invalid", "expiring", "key_error", "check_failed"]


@dataclass(frozen=True)
class TokenProblem:
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return self.message  # what an operator reads (`accounts check` prints it)


@dataclass(frozen=True)
class TokenHealth:
    account_id: str
    platform: str
    valid: bool
    expires_at: datetime | None  # None: never expires (or unknown when not valid)
    problem: TokenProblem | None

    @classmethod
    def healthy(
        cls,
        account: Account,
        expires_at: datetime | None = None,
        problem: TokenProblem | None = None,
    ) -> TokenHealth:
        """A working credential (`problem`: still works, but see to it, e.g. expiring)."""
        return cls(account.id, account.platform, True, expires_at, problem)

    @classmethod
    def unhealthy(cls, account: Account, kind: ProblemKind, message: str) -> TokenHealth:
        return cls(account.id, account.platform, False, None, TokenProblem(kind, message))


@dataclass(frozen=True)
class Login:
    """What a person hands over to connect accounts of one network; each Connector says which
    fields it needs and refuses a login that lacks them.

    `secret`: an access token (Meta user token, Threads token, Mastodon token) or, for Bluesky,
    an app password (never the main password). `server`: the Bluesky PDS or the Mastodon
    instance URL. `handle`: the Bluesky handle. `choose`: for Meta, the Page ids to connect
    (None: every Page the login grants).
    """

    secret: str
    handle: str | None = None
    server: str | None = None
    choose: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Credential:
    """One account a login grants, verified by its network and ready to store.

    Plaintext: the use case encrypts `secret` and `session` before anything is stored.
    `account_id` is the id the network's convention gives (`fb-<page id>`); the caller may
    choose another one for a network that grants a single account per login.
    """

    account_id: str
    platform: str
    external_id: str
    name: str
    secret: str
    expires_at: datetime | None = None
    service_url: str | None = None
    session: str | None = None
    instance_limits: MastodonInstanceLimits | None = None  # the server's own, when it states them


@dataclass(frozen=True)
class LoginRefused:
    """Nothing may be stored; `reason` says what to fix (never echoes the secret).

    `unavailable`: the login was not judged (the network could not be asked, or this
    deployment lacks what the network needs, such as META_APP_SECRET): try again later, or
    fix the deployment; False: the network (or the connector's own rules) refused the login.
    """

    reason: str
    unavailable: bool = False

    @classmethod
    def answered(cls, what: str, failure: Failure) -> LoginRefused:
        """The network's failure answer to a login: `unavailable` when it did not judge the
        login (a transient failure, a rate limit)."""
        unavailable = isinstance(failure, Retryable | RateLimited)
        return cls(f"{what}: {failure_reason(failure)}", unavailable=unavailable)


@dataclass(frozen=True)
class Inspection:
    """A stored credential's health, and a refreshed secret when the network gave one (the
    caller stores it encrypted)."""

    health: TokenHealth
    refreshed: Credential | None = None
    instance_limits: MastodonInstanceLimits | None = None  # read anew: the caller stores them

    @classmethod
    def unhealthy(cls, account: Account, kind: ProblemKind, message: str) -> Inspection:
        return cls(TokenHealth.unhealthy(account, kind, message))

    @classmethod
    def check_failed(cls, account: Account, failure: Failure | Deferred) -> Inspection:
        """The network could not be asked: nothing is known about the credential either way."""
        return cls.unhealthy(account, "check_failed", f"check failed: {failure_reason(failure)}")


class Connector(Protocol):
    """How accounts of one network are connected and kept usable."""

    network: str  # what a person names: meta, threads, bluesky, mastodon
    platforms: tuple[str, ...]  # the account platforms its logins grant

    def verify(self, login: Login, now: datetime) -> Sequence[Credential] | LoginRefused:
        """Ask the network whether the login is good; the accounts it grants, or why not."""
        ...

    def inspect(self, account: Account, now: datetime) -> Inspection:
        """Check a stored account's credential with its network, refreshing it when due and
        the network allows it. Never raises for the network's answers."""
        ...


class Registry:
    """Publishers by platform name and Connectors by network; the engine dispatches on
    `post.platform`, the account use cases on the network a person names or on
    `account.platform`."""

    def __init__(
        self, publishers: Iterable[Publisher] = (), connectors: Iterable[Connector] = ()
    ) -> None:
        self._publishers: dict[str, Publisher] = {}
        self._connectors: dict[str, Connector] = {}
        for publisher in publishers:
            self.register(publisher)
        for connector in connectors:
            self.register_connector(connector)

    def register(self, publisher: Publisher) -> None:
        self._publishers[publisher.platform] = publisher

    def register_connector(self, connector: Connector) -> None:
        self._connectors[connector.network] = connector

    def get(self, platform: str) -> Publisher | None:
        return self._publishers.get(platform)

    def connector(self, network: str) -> Connector | None:
        return self._connectors.get(network)

    def connector_for(self, platform: str) -> Connector | None:
        """The connector whose logins grant accounts of `platform` (meta for facebook)."""
        for connector in self._connectors.values():
            if platform in connector.platforms:
                return connector
        return None

    def networks(self) -> tuple[str, ...]:
        return tuple(sorted(self._connectors))
