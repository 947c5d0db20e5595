"""Each outcome drives its transition; lateness, cancel/edit races, budgets and limits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from pymongo import MongoClient, monitoring
from pymongo.database import Database

from common import accounts, lock, model
from common.clock import TimeError, utcnow
from common.config import Settings, load_settings
from common.db import DatabaseUnavailableError, Doc, get_client
from common.engine import Trigger, execute_once
from common.events import Fields
from common.model import Content, Post
from common.platforms.base import (
    Ambiguous,
    AuthExpired,
    Outcome,
    Permanent,
    PublishContext,
    Published,
    RateLimited,
    Registry,
    Retryable,
)
from common.posts import actions
from devstack.post_counts import count_by_status
from devstack.processes import free_port
from tests.conftest import SettingsFactory, add_account, add_post, left_by_a_dead_runner
from tests.recording import RecordingPublisher, registry_for, sends_per_post

MINUTE = timedelta(minutes=1)


def _tick(settings: Settings, db: Database[Doc], **publisher: object) -> object:
    return execute_once(settings, Trigger("cli"), registry_for(db, **publisher))


def _post(db: Database[Doc], post_id: object) -> Doc:
    doc = db["posts"].find_one({"_id": post_id})
    assert doc is not None
    return doc


def _always(outcome: Outcome) -> Callable[[Post], Outcome]:
    return lambda _post: outcome


def test_a_published_post_records_its_platform_id(db: Database[Doc], settings: Settings) -> None:
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - MINUTE)
    _tick(settings, db)
    doc = _post(db, pid)
    assert doc["status"] == "published" and doc["platformPostId"].startswith("facebook_")
    assert doc["attempts"] == 1 and "lease" not in doc and "sendStartedAt" not in doc


def test_rate_limited_defers_without_spending_an_attempt_and_pauses_the_account(
    db: Database[Doc],
    settings: Settings,
) -> None:
    add_account(db, "a")
    first = add_post(db, "a", utcnow() - 2 * MINUTE)
    second = add_post(db, "a", utcnow() - MINUTE)
    retry_at = (utcnow() + timedelta(minutes=30)).replace(microsecond=0)
    publisher_calls: list[object] = []

    def limited(post: Post) -> Outcome:
        publisher_calls.append(post.id)
        return RateLimited(retry_at)

    _tick(settings, db, script=limited)
    for pid in (first, second):
        doc = _post(db, pid)
        assert (doc["status"], doc["attempts"], doc["dueAt"]) == ("scheduled", 0, retry_at)
    assert publisher_calls == [first]  # the second post waited without calling the platform
    assert accounts.get(db, "a").paused_until == retry_at  # type: ignore[union-attr]


def test_a_post_that_must_wait_alone_does_not_pause_its_account(
    db: Database[Doc], settings: Settings
) -> None:
    add_account(db, "a")
    slow = add_post(db, "a", utcnow() - 2 * MINUTE, text="slow video")
    other = add_post(db, "a", utcnow() - MINUTE, text="photo")
    retry_at = (utcnow() + timedelta(minutes=1)).replace(microsecond=0)

    def processing(post: Post) -> Outcome | None:
        return RateLimited(retry_at, "processing", account_wide=False) if post.id == slow else None

    _tick(settings, db, script=processing)
    assert (_post(db, slow)["status"], _post(db, slow)["dueAt"]) == ("scheduled", retry_at)
    assert _post(db, other)["status"] == "published"
    assert accounts.get(db, "a").paused_until is None  # type: ignore[union-attr]


def test_retryable_backs_off_then_fails_after_max_attempts(
    db: Database[Doc],
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(MAX_ATTEMPTS=3, RETRY_BASE_SECONDS=60, RETRY_MAX_SECONDS=600)
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - MINUTE)
    for attempt in (1, 2):
        before = utcnow()
        _tick(settings, db, script=_always(Retryable("HTTP 503")))
        doc = _post(db, pid)
        assert (doc["status"], doc["attempts"]) == ("scheduled", attempt)
        delay = (doc["dueAt"] - before).total_seconds()
        assert 30 - 1 <= delay <= 60 * 2 ** (attempt - 1) + 1  # jittered, capped exponential
        assert doc["lastError"]["code"] == "retryable"
        db["posts"].update_one({"_id": pid}, {"$set": {"dueAt": utcnow() - MINUTE}})
    _tick(settings, db, script=_always(Retryable("HTTP 503")))
    doc = _post(db, pid)
    assert (doc["status"], doc["attempts"], doc["lastError"]["code"]) == (
        "failed",
        3,
        "retries_exhausted",
    )


def test_auth_expired_holds_the_accounts_posts_without_spending_attempts(
    db: Database[Doc],
    settings: Settings,
) -> None:
    add_account(db, "a")
    pids = [add_post(db, "a", utcnow() - MINUTE) for _ in range(3)]
    _tick(settings, db, script=_always(AuthExpired("token expired")))
    assert accounts.get(db, "a").status == "needs_reauth"  # type: ignore[union-attr]
    for pid in pids:
        doc = _post(db, pid)
        assert (doc["status"], doc["attempts"]) == ("scheduled", 0)
        assert doc["dueAt"] > utcnow()
    # Re-authentication makes the account active; the held posts then go out.
    later = add_post(db, "a", utcnow() + timedelta(hours=1))  # not held: must stay put
    newly_due = add_post(db, "a", utcnow() - MINUTE)
    _tick(settings, db)  # the account is still inactive: the newly due post is held too
    assert sends_per_post(db) == {}
    assert _post(db, newly_due)["lastError"]["code"] == model.ACCOUNT_INACTIVE
    # Re-authentication releases exactly the held posts; they go out on the next tick.
    accounts.replace_token(db, "a", "new-ciphertext", None, utcnow())
    assert actions.release_held(db, "a", utcnow()) == 4
    _tick(settings, db)
    assert set(sends_per_post(db)) == {*pids, newly_due}
    assert _post(db, later)["status"] == "scheduled"


def test_permanent_fails_with_the_platform_code(db: Database[Doc], settings: Settings) -> None:
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - MINUTE)
    _tick(settings, db, script=_always(Permanent("100", "Invalid parameter")))
    doc = _post(db, pid)
    assert (doc["status"], doc["lastError"]["code"], doc["lastError"]["message"]) == (
        "failed",
        "100",
        "Invalid parameter",
    )


def test_ambiguous_goes_to_unknown_and_is_never_resent(
    db: Database[Doc], settings: Settings
) -> None:
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - MINUTE)
    _tick(settings, db, script=_always(Ambiguous("read timeout after send")))
    assert _post(db, pid)["status"] == "unknown"
    _tick(settings, db)
    assert sends_per_post(db) == {}


class _Exploding(RecordingPublisher):
    """An adapter bug: raises instead of returning an outcome, before or after the send."""

    after: bool = False

    def publish(self, post: Post, account: model.Account, ctx: PublishContext) -> Outcome:
        if self.after:
            ctx.begin_send()
        raise RuntimeError("adapter bug")


@pytest.mark.parametrize(("after_send", "status"), [(False, "scheduled"), (True, "unknown")])
def test_an_adapter_exception_is_retried_only_if_nothing_was_sent(
    db: Database[Doc],
    settings: Settings,
    after_send: bool,
    status: str,
) -> None:
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - MINUTE)
    exploding = _Exploding(db)
    exploding.after = after_send
    execute_once(settings, Trigger("cli"), Registry([exploding]))
    assert _post(db, pid)["status"] == status


class _AnsweredWithTransientError(RecordingPublisher):
    """A send answered with a transient error (as Meta's code 1/2 to media_publish), which
    the platform may or may not have applied."""

    applied: bool = False

    def publish(self, post: Post, account: model.Account, ctx: PublishContext) -> Outcome:
        self.calls += 1
        assert ctx.begin_send()
        if self.applied:
            self.db["platform_log"].insert_one({"postId": post.id, "accountId": account.id})
        return Retryable("code 2: service temporarily unavailable", after_send=True)


@pytest.mark.parametrize(("applied", "status"), [(True, "published"), (False, "unknown")])
def test_a_transient_answer_to_the_send_on_the_last_attempt_is_looked_up_never_failed(
    db: Database[Doc], make_settings: SettingsFactory, applied: bool, status: str
) -> None:
    settings = make_settings(MAX_ATTEMPTS=1)  # every attempt is the last one
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - MINUTE)
    publisher = _AnsweredWithTransientError(db)
    publisher.applied = applied
    execute_once(settings, Trigger("cli"), Registry([publisher]))
    assert _post(db, pid)["status"] == status
    _tick(settings, db)  # nothing is re-sent blindly, whatever the next run finds
    assert publisher.calls == 1
    assert sends_per_post(db) == ({pid: 1} if applied else {})


def test_a_transient_answer_to_the_send_is_retried_once_a_look_finds_nothing(
    db: Database[Doc], make_settings: SettingsFactory
) -> None:
    settings = make_settings(MAX_ATTEMPTS=3)
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - MINUTE)
    execute_once(settings, Trigger("cli"), Registry([_AnsweredWithTransientError(db)]))
    doc = _post(db, pid)
    assert (doc["status"], doc["attempts"], doc["lastError"]["code"]) == (
        "scheduled",
        1,
        "retryable",
    )


def test_an_hour_late_post_is_published_and_one_past_the_limit_expires(
    db: Database[Doc],
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(MAX_LATENESS_SECONDS=7200)
    add_account(db, "a")
    late = add_post(db, "a", utcnow() - timedelta(hours=1))
    too_late = add_post(db, "a", utcnow() - timedelta(hours=3))
    result = _tick(settings, db)
    assert _post(db, late)["status"] == "published"
    doc = _post(db, too_late)
    assert (doc["status"], doc["lastError"]["code"]) == ("failed", "expired")
    assert set(sends_per_post(db)) == {late}
    assert result.counts.failed == 1  # type: ignore[attr-defined]


def test_an_operator_retry_of_an_old_post_restarts_the_lateness_clock(
    db: Database[Doc], make_settings: SettingsFactory
) -> None:
    settings = make_settings(MAX_LATENESS_SECONDS=3600)
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - timedelta(hours=5))
    _tick(settings, db)
    assert _post(db, pid)["lastError"]["code"] == "expired"
    assert actions.retry(db, pid, utcnow())  # the operator still wants it out
    _tick(settings, db)
    assert _post(db, pid)["status"] == "published"
    assert set(sends_per_post(db)) == {pid}


def test_the_default_lateness_limit_is_a_day(settings: Settings) -> None:
    assert settings.max_lateness_seconds == 24 * 3600


def test_a_post_cancelled_between_claim_and_publish_is_not_published(
    db: Database[Doc],
    settings: Settings,
) -> None:
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - MINUTE)
    _tick(settings, db, before_send=lambda post: actions.cancel(db, post.id, utcnow()))
    assert sends_per_post(db) == {}
    assert _post(db, pid)["status"] == "canceled"


def test_a_post_edited_between_claim_and_publish_goes_out_later_with_the_new_text(
    db: Database[Doc],
    settings: Settings,
) -> None:
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - MINUTE, text="old")
    edited = threading.Event()

    def edit_once(post: Post) -> None:
        if not edited.is_set():
            edited.set()
            actions.edit_content(db, post.id, Content(text="new"), utcnow())

    _tick(settings, db, before_send=edit_once)
    assert sends_per_post(db) == {}
    assert (_post(db, pid)["status"], _post(db, pid)["version"]) == ("scheduled", 2)
    _tick(settings, db)
    assert [d["text"] for d in db["platform_log"].find()] == ["new"]


def test_a_post_cannot_be_cancelled_once_its_send_began(
    db: Database[Doc], settings: Settings
) -> None:
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - MINUTE)
    refused: list[bool] = []
    _tick(
        settings, db, after_send=lambda post: refused.append(actions.cancel(db, post.id, utcnow()))
    )
    assert refused == [False]
    assert _post(db, pid)["status"] == "published"


def test_each_accounts_posts_go_out_in_due_order(
    db: Database[Doc], make_settings: SettingsFactory
) -> None:
    settings = make_settings(PUBLISH_WORKERS=8, CLAIM_BATCH_SIZE=7, CATCHUP_SPACING_SECONDS=0)
    for a in range(3):
        add_account(db, f"a{a}")
    start = utcnow() - timedelta(hours=1)
    for i in range(45):
        add_post(db, f"a{i % 3}", start + timedelta(seconds=i), text=str(i))
    _tick(settings, db, latency=0.002)
    for a in range(3):
        sent = [
            int(d["text"]) for d in db["platform_log"].find({"accountId": f"a{a}"}).sort("_id", 1)
        ]
        assert sent == sorted(sent) and len(sent) == 15


def test_an_overdue_backlog_is_spread_per_account_but_on_time_posts_are_not(
    db: Database[Doc], settings: Settings
) -> None:
    add_account(db, "backlog")
    add_account(db, "on-time")
    hours_ago = utcnow() - timedelta(hours=2)
    backlog = [add_post(db, "backlog", hours_ago + timedelta(seconds=i)) for i in range(4)]
    on_time = [add_post(db, "on-time", utcnow() - timedelta(seconds=30)) for _ in range(3)]
    before = utcnow()
    _tick(settings, db)
    assert set(sends_per_post(db)) == {backlog[0], *on_time}
    spacing = settings.catchup_spacing_seconds
    for k, pid in enumerate(backlog[1:], start=1):
        doc = _post(db, pid)
        assert (doc["status"], doc["attempts"]) == ("scheduled", 0)
        offset = (doc["dueAt"] - before).total_seconds()
        assert k * spacing - 5 <= offset <= k * spacing + 5  # one slot per minute, in order
    assert accounts.get(db, "backlog").paused_until is None  # type: ignore[union-attr]


def test_a_post_expired_by_lateness_emits_a_failed_event(
    db: Database[Doc], make_settings: SettingsFactory
) -> None:
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - timedelta(hours=3))
    sink = _Events()
    execute_once(
        make_settings(MAX_LATENESS_SECONDS=3600), Trigger("cli"), registry_for(db), events=sink
    )
    assert [
        (name, attrs["postId"], attrs["code"])
        for name, attrs in sink.emitted
        if name == "post.failed"
    ] == [("post.failed", str(pid), "expired")]


class _Events:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, str]]] = []

    def emit(self, name: str, fields: Fields) -> None:
        self.emitted.append((name, {k: str(v) for k, v in fields.items()}))

    def flush(self, timeout: float) -> int:
        return 0


@pytest.mark.parametrize(
    ("sent", "status", "sends"), [(True, "published", 1), (False, "unknown", 0)]
)
def test_a_dead_runners_post_is_looked_up_even_when_its_account_is_paused(
    db: Database[Doc], settings: Settings, sent: bool, status: str, sends: int
) -> None:
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - timedelta(hours=1))
    left_by_a_dead_runner(db, pid)
    if sent:
        db["platform_log"].insert_one({"postId": pid, "accountId": "a", "text": "hello"})
    accounts.pause_until(db, "a", utcnow() + timedelta(hours=1), utcnow())
    _tick(settings, db)  # a deferral would forget that a send may have happened
    assert _post(db, pid)["status"] == status
    _tick(settings, db)
    assert len(list(db["platform_log"].find({"postId": pid}))) == sends


class _Blind(RecordingPublisher):
    """A platform that cannot be read (token revoked, outage): every look-up fails."""

    def find_published(self, post: Post, account: model.Account) -> Published | None:
        raise RuntimeError("cannot read the page")


@pytest.mark.parametrize("policy", ["at_most_once", "at_least_once"])
def test_a_dead_runners_post_that_cannot_be_looked_up_ends_unknown_not_stuck(
    db: Database[Doc], make_settings: SettingsFactory, policy: str
) -> None:
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - MINUTE)
    left_by_a_dead_runner(db, pid)
    settings = make_settings(RECONCILE_POLICY=policy)
    execute_once(settings, Trigger("cli"), Registry([_Blind(db)]))
    doc = _post(db, pid)
    assert (doc["status"], "lease" in doc) == ("unknown", False)
    assert "could not look" in doc["lastError"]["message"]
    assert sends_per_post(db) == {}  # never re-sent without a look, whatever the policy


def test_at_least_once_sends_a_dead_runners_post_again_when_it_is_not_found(
    db: Database[Doc], make_settings: SettingsFactory
) -> None:
    add_account(db, "a")
    pid = add_post(db, "a", utcnow() - MINUTE)
    left_by_a_dead_runner(db, pid)
    _tick(make_settings(RECONCILE_POLICY="at_least_once"), db)
    assert _post(db, pid)["status"] == "published"
    assert sends_per_post(db) == {pid: 1}


def test_a_run_out_of_budget_gives_unstarted_posts_back(
    db: Database[Doc],
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(RUN_BUDGET_SECONDS=1, PUBLISH_WORKERS=1, CLAIM_BATCH_SIZE=50)
    add_account(db, "a")
    for _ in range(10):  # 2 s of sends, twice the budget
        add_post(db, "a", utcnow() - MINUTE)
    result = _tick(settings, db, latency=0.2)
    published = result.counts.published  # type: ignore[attr-defined]
    assert 0 < published < 10
    counts = count_by_status(db)
    assert (counts["published"], counts["scheduled"], counts["publishing"]) == (
        published,
        10 - published,
        0,
    )
    assert result.next_scheduled_post is not None  # type: ignore[attr-defined]


def test_a_manual_run_respects_its_limit(db: Database[Doc], settings: Settings) -> None:
    add_account(db, "a")
    for _ in range(5):
        add_post(db, "a", utcnow() - MINUTE)
    result = execute_once(settings, Trigger("manual", limit=2), registry_for(db))
    assert result.counts.published == 2
    assert count_by_status(db)["scheduled"] == 3


def test_a_stale_tick_touches_nothing(db: Database[Doc], settings: Settings) -> None:
    add_account(db, "a")
    add_post(db, "a", utcnow() - MINUTE)
    old = utcnow() - timedelta(seconds=settings.tick_max_age_seconds + 1)
    result = execute_once(settings, Trigger("tick", "m", published_at=old), registry_for(db))
    assert result.stale and result.counts.processed == 0
    assert db["scheduler_state"].find_one() is None


def test_next_scheduled_post_is_reported_and_stored(db: Database[Doc], settings: Settings) -> None:
    add_account(db, "a")
    later = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    add_post(db, "a", later, platform="instagram")
    result = execute_once(settings, Trigger("cli"), registry_for(db))
    assert result.next_scheduled_post == {"platform": "instagram", "scheduledAt": later}
    assert lock.read_state(db)["nextScheduledPost"] == {
        "platform": "instagram",
        "scheduledAt": later,
    }


class _CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in ("isMaster", "hello", "ping", "endSessions"):
            self.commands.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_an_empty_tick_costs_five_indexed_database_commands(
    db: Database[Doc], mongo_uri: str, db_name: str
) -> None:
    counter = _CommandCounter()
    client: MongoClient[Doc] = MongoClient(mongo_uri, tz_aware=True, event_listeners=[counter])
    add_account(db, "a")
    add_post(db, "a", utcnow() + timedelta(hours=1))
    settings = load_settings({"MONGO_URI": mongo_uri, "MONGO_DB": db_name})
    execute_once(settings, Trigger("tick", "m-1"), registry_for(db), db=client[db_name])
    # lock + de-duplication, due posts, abandoned leases, the next post, record + release:
    # each query reads only what it returns (tests/db/test_query_shapes.py checks the indexes).
    assert counter.commands == ["findAndModify", "find", "find", "find", "update"]
    client.close()


def test_unreachable_database_fails_clearly_and_changes_nothing(
    db: Database[Doc],
    make_settings: SettingsFactory,
) -> None:
    add_account(db, "a")
    add_post(db, "a", utcnow() - MINUTE)
    settings = make_settings(MONGO_URI=f"mongodb://127.0.0.1:{free_port()}/", MONGO_TIMEOUT_MS=300)
    with pytest.raises(DatabaseUnavailableError, match="database unreachable") as caught:
        execute_once(settings, Trigger("tick", "m-1"), registry_for(db))
    assert "127.0.0.1" not in str(caught.value)  # the URI (and any credentials) stay out
    assert count_by_status(db)["scheduled"] == 1
    assert db["scheduler_state"].find_one() is None
    get_client(settings).close()


def test_naive_publish_times_are_rejected(settings: Settings) -> None:
    naive = datetime(2030, 1, 1)
    with pytest.raises(TimeError):
        execute_once(settings, Trigger("tick", "m", published_at=naive), Registry())
