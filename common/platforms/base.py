"""The one seam toward social networks: the publisher protocol and the outcome taxonomy.

Adapters map every platform response to exactly one outcome below; the engine decides on the
outcome alone and never looks at raw status codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from common.accounts import Account
from common.model import Post


@dataclass(frozen=True)
class Published:
    platform_post_id: str


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
class Withdrawn:
    """Nothing was sent: the post was cancelled or edited, or this run lost its lease."""

    reason: str


Outcome = Published | RateLimited | Retryable | AuthExpired | Permanent | Ambiguous | Withdrawn


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


class Registry:
    """Publishers by platform name; the engine dispatches on `post.platform`."""

    def __init__(self, publishers: Iterable[Publisher] = ()) -> None:
        self._publishers: dict[str, Publisher] = {}
        for publisher in publishers:
            self.register(publisher)

    def register(self, publisher: Publisher) -> None:
        self._publishers[publisher.platform] = publisher

    def get(self, platform: str) -> Publisher | None:
        return self._publishers.get(platform)
