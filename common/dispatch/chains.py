"""Where new posts go in their accounts' chains of tasks (DISPATCH=tasks), as a plan.

An account's posts are published one after another: a post's task, once done, creates the task
of the post its record links to (`then`). Posts getting their tasks now (the tick's load, or a
post created or edited due soon) are placed by due time among the account's posts already in a
chain (`InChain`: waiting for their task, or being published):

- after such a post, a run of new posts is linked in: that post's link is moved to the run's
  first post (tasks.link_after), and the run's last post takes the link it had;
- before all of them, the run starts a chain of its own: its first post gets its task now.

So a post created in the middle of a chain waits for the post before it instead of running
beside it. What is left: a run before an account's first waiting post, whose task exists, runs
beside that post only if its own sending lasts past that post's due time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bson import ObjectId

from common.posts.tasks import InChain, Upcoming


@dataclass
class Run:
    """New posts of one account, consecutive in its order, linked one to the next."""

    first: Upcoming
    last: Upcoming
    after: InChain | None  # the post in a chain it follows; None: it starts its own chain


@dataclass
class Chains:
    runs: list[Run] = field(default_factory=list)
    then: dict[ObjectId, Upcoming] = field(default_factory=dict)  # a new post's next post
    run_of: dict[ObjectId, Run] = field(default_factory=dict)  # a new post's run

    def close(self, run: Run) -> None:
        """The run's last post hands on to what the post it follows handed on to."""
        if run.after is not None and run.after.then is not None:
            self.then[run.last.id] = run.after.then

    def detach(self, run: Run) -> None:
        """The run could not be linked in (the post it follows finished meanwhile): it starts
        on its own, and its last post hands on to nothing."""
        self.then.pop(run.last.id, None)
        run.after = None


def plan(todo: Sequence[Upcoming], in_chains: Sequence[InChain]) -> Chains:
    """`todo` and `in_chains` oldest first (due time, then id)."""
    chains = Chains()
    current: dict[str, Run] = {}  # the account's run being built
    by_account: dict[str, list[InChain]] = {}
    for chained in in_chains:
        by_account.setdefault(chained.account_id, []).append(chained)
    for post in todo:
        after = _last_before(by_account.get(post.account_id, []), post)
        run = current.get(post.account_id)
        if run is not None and (after is None or _order(run.last) >= _order(after)):
            chains.then[run.last.id] = post
            run.last = post
        else:
            if run is not None:
                chains.close(run)
            run = Run(post, post, after)
            chains.runs.append(run)
            current[post.account_id] = run
        chains.run_of[post.id] = run
    for run in current.values():
        chains.close(run)
    return chains


def _order(post: Upcoming | InChain) -> tuple[datetime, ObjectId]:
    return (post.due_at, post.id)


def _last_before(account_chained: Sequence[InChain], post: Upcoming) -> InChain | None:
    """The account's last post in a chain at or before `post` (an account has few)."""
    found = None
    for other in account_chained:
        if _order(other) <= _order(post):
            found = other
    return found
