"""A new post that looks like one already scheduled: the same account within a minute and much
the same text. Most often the same post made twice (a CSV row corrected without a `key`
column, a form sent again with a typo fixed), so the caller is told; nothing is refused,
since two similar posts a minute apart can be meant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from difflib import SequenceMatcher

from bson import ObjectId

from common.posts import listing

WINDOW = timedelta(minutes=1)
# SequenceMatcher's ratio: 1.0 the same text; a corrected typo in a tweet-sized post is ~0.95.
ALIKE = 0.8


@dataclass(frozen=True)
class Placed:
    """A post just stored: where it landed and what it says."""

    post_id: ObjectId
    account_id: str
    due_at: datetime
    text: str


@dataclass(frozen=True)
class LooksLike:
    """`post_id` landed next to `other_id`, which says much the same."""

    post_id: ObjectId
    other_id: ObjectId
    seconds_apart: int

    def message(self) -> str:
        return (
            f"post {self.other_id} of the same account is scheduled {self.seconds_apart} s "
            "away with much the same text: if this one replaces it, cancel that one (or import "
            "with a `key` column to edit a post by re-import)"
        )


def alike(a: str, b: str) -> bool:
    left, right = " ".join(a.casefold().split()), " ".join(b.casefold().split())
    if left == right:
        return True
    matcher = SequenceMatcher(None, left, right)
    # The cheap upper bounds first: most neighbours differ at a glance.
    return matcher.real_quick_ratio() >= ALIKE and matcher.ratio() >= ALIKE


def window(instant: datetime) -> tuple[datetime, datetime]:
    """The due times whose posts a post due at `instant` is compared with."""
    return instant - WINDOW, instant + WINDOW


def among(placed: Sequence[Placed], neighbours: Sequence[listing.Neighbour]) -> list[LooksLike]:
    """For each of `placed`, the closest of `neighbours` within a minute that says much the same
    (`neighbours` read before, or apart from, the posts placed)."""
    by_account: dict[str, list[listing.Neighbour]] = {}
    for other in neighbours:
        by_account.setdefault(other.account_id, []).append(other)
    found = []
    for new in placed:
        near = sorted(by_account.get(new.account_id, ()), key=lambda o: abs(o.due_at - new.due_at))
        for other in near:
            apart = abs(other.due_at - new.due_at)
            if apart > WINDOW:
                break
            if alike(new.text, other.text):
                found.append(LooksLike(new.post_id, other.post_id, int(apart.total_seconds())))
                break
    return found
