"""Scheduled posts: the only code that writes a post (and so its status).

    scheduled --claim--> publishing --published / scheduled (retry, deferral) / failed / unknown
    scheduled|failed|unknown --operator--> canceled | scheduled (retry)
    draft --submit--> pending_approval --approve--> scheduled | --send back--> draft
    waiting (a follow-up) --its parent published--> scheduled | --a part above failed--> failed

One module per reason to change: `store` (creation, reads), `actions` (an operator's actions),
`queue` (the run's queries), `lease` (the claim and the claimed post's handle), `tasks` (Cloud
Tasks records), `listing` (pages and the API cursor), `reconcile`, `follow_ups` (first comments
and thread parts released, stopped, revived), `figures` (the status
report's bounded counts), `states` (filters from the table of starting states). Callers
import the module they use (`from common.posts import store`). The names below,
`common.posts.<name>`, each loaded with its module when first used (common.lazy_names), serve
the callers not moved yet: the create path's use cases and API, the status report and
tests/conftest.py.
"""

from typing import TYPE_CHECKING

from common.lazy_names import lazy_names

if TYPE_CHECKING:
    from common.posts.actions import (
        cancel,
        edit_content,
        end_group,
        hand_over_group,
        release_held,
        retry,
        review,
    )
    from common.posts.figures import COUNT_CAP, QueueCounts, queue_counts
    from common.posts.lease import ClaimedPost, LeaseLost, LeaseTerms, Settled, claim
    from common.posts.listing import (
        Neighbour,
        Page,
        PostFilter,
        account_and_neighbours,
        follow_ups_of,
        get_document,
        list_page,
        parse_cursor,
        scheduled_between,
        slot_times,
    )
    from common.posts.queue import (
        DueSnapshot,
        NextPost,
        next_post,
        release_unsent,
        renew_leases,
        snapshot_due,
    )
    from common.posts.reconcile import list_unknown, mark_found_published
    from common.posts.store import (
        Existing,
        NewFollowUp,
        NewPost,
        SlotTaken,
        activate_import,
        create,
        discard_import,
        existing_keys,
        free_stale_slots,
        get,
        insert_once,
        slot_key,
        stage_many,
        store_permalink,
        uses_media,
    )
    from common.posts.tasks import (
        InChain,
        TaskClaim,
        Upcoming,
        chained_next,
        claim_for_task,
        in_chains,
        link_after,
        record_tasks,
        take_uncounted,
        upcoming,
        upcoming_posts,
    )

__all__ = [
    "COUNT_CAP",
    "ClaimedPost",
    "DueSnapshot",
    "Existing",
    "InChain",
    "LeaseLost",
    "LeaseTerms",
    "Neighbour",
    "NewFollowUp",
    "NewPost",
    "NextPost",
    "Page",
    "PostFilter",
    "QueueCounts",
    "Settled",
    "SlotTaken",
    "TaskClaim",
    "Upcoming",
    "account_and_neighbours",
    "activate_import",
    "cancel",
    "chained_next",
    "claim",
    "claim_for_task",
    "create",
    "discard_import",
    "edit_content",
    "end_group",
    "existing_keys",
    "follow_ups_of",
    "free_stale_slots",
    "get",
    "get_document",
    "hand_over_group",
    "in_chains",
    "insert_once",
    "link_after",
    "list_page",
    "list_unknown",
    "mark_found_published",
    "next_post",
    "parse_cursor",
    "queue_counts",
    "record_tasks",
    "release_held",
    "release_unsent",
    "renew_leases",
    "retry",
    "review",
    "scheduled_between",
    "slot_key",
    "slot_times",
    "snapshot_due",
    "stage_many",
    "store_permalink",
    "take_uncounted",
    "upcoming",
    "upcoming_posts",
    "uses_media",
]

# Under `not TYPE_CHECKING`: mypy reads the imports above, so a misspelt name stays an error.
if not TYPE_CHECKING:
    __getattr__ = lazy_names(
        __name__,
        {
            "actions": (
                "cancel",
                "edit_content",
                "end_group",
                "hand_over_group",
                "release_held",
                "retry",
                "review",
            ),
            "figures": ("COUNT_CAP", "QueueCounts", "queue_counts"),
            "lease": ("ClaimedPost", "LeaseLost", "LeaseTerms", "Settled", "claim"),
            "listing": (
                "Neighbour",
                "Page",
                "PostFilter",
                "account_and_neighbours",
                "follow_ups_of",
                "get_document",
                "list_page",
                "parse_cursor",
                "scheduled_between",
                "slot_times",
            ),
            "queue": (
                "DueSnapshot",
                "NextPost",
                "next_post",
                "release_unsent",
                "renew_leases",
                "snapshot_due",
            ),
            "reconcile": ("list_unknown", "mark_found_published"),
            "store": (
                "Existing",
                "NewFollowUp",
                "NewPost",
                "SlotTaken",
                "activate_import",
                "create",
                "discard_import",
                "existing_keys",
                "free_stale_slots",
                "get",
                "insert_once",
                "slot_key",
                "stage_many",
                "store_permalink",
                "uses_media",
            ),
            "tasks": (
                "InChain",
                "TaskClaim",
                "Upcoming",
                "chained_next",
                "claim_for_task",
                "in_chains",
                "link_after",
                "record_tasks",
                "take_uncounted",
                "upcoming",
                "upcoming_posts",
            ),
        },
    )
