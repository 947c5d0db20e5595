"""The CLI's commands straight on MongoDB (MONGO_URI), through the same use cases as the API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from typing import IO

from bson import ObjectId
from pymongo.database import Database

from common import accounts, apikeys, dispatch, lock, status
from common.clock import utcnow
from common.config import Settings, load_settings
from common.db import Doc, ensure_indexes, get_database
from common.engine import Trigger, execute_once
from common.entrypoints import api_answers, api_media
from common.entrypoints.cli.backend import (
    PAST_TENSE,
    Action,
    ConnectRequest,
    LocalFile,
    OperationalError,
    Progress,
    UnknownAccountError,
    UsageError,
    added_json,
)
from common.entrypoints.cli.uploads import ProgressBar, put_resumable
from common.entrypoints.runner import run_steps
from common.operations import accounts as account_ops
from common.operations import (
    creating,
    csv_import,
    media,
    planning,
    post_actions,
    reconcile,
    scheduling,
    series_materialise,
    series_split,
)
from common.operations import series as series_ops
from common.operations.admission import Admission, deployment_admission
from common.operations.series_split import SeriesChanges
from common.platforms.base import LoginRefused, Registry
from common.platforms.registry import default_registry
from common.posts import listing
from common.storage import MediaBucket, storage_config
from common.tokens import TokenCipher, TokenKeyError
from common.validation import Problem


def problems_text(problems: list[Problem] | tuple[Problem, ...]) -> str:
    return "\n".join(f"{p.field}: {p.message}" for p in problems)


class Direct:
    """Settings are read on first use, so a command that needs none (dev) needs no MONGO_URI."""

    @cached_property
    def settings(self) -> Settings:
        return load_settings()

    @cached_property
    def db(self) -> Database[Doc]:
        db = get_database(self.settings)
        ensure_indexes(db, self.settings.post_retention_days)
        return db

    def _now(self) -> datetime:
        return utcnow()

    @cached_property
    def _admission(self) -> Admission:
        return deployment_admission(self.settings)

    def _cipher(self) -> TokenCipher:
        return TokenCipher.from_settings(self.settings)

    def _registry(self) -> Registry:
        return default_registry(self.settings)

    # --- posts ------------------------------------------------------------------------------

    def add_post(self, request: scheduling.PostRequest) -> Doc:
        result = creating.schedule_one(
            self.db,
            request,
            self._now(),
            self._admission,
        )
        if isinstance(result, scheduling.NoSuchAccount):
            raise UnknownAccountError(result.account_id)
        if isinstance(result, scheduling.Invalid):
            raise UsageError("the post is not valid:\n" + problems_text(result.problems))
        if isinstance(result, scheduling.KeyReused):
            raise UsageError(f"the key {result.key!r} was used before for another post")
        doc = listing.get_document(self.db, result.post_id)
        assert doc is not None  # just made or found; posts are never deleted
        if isinstance(result, scheduling.AlreadyScheduled):
            return added_json(doc, True)
        return added_json(doc, False, [n.message() for n in result.looks_like])

    def _bucket(self, what: str) -> MediaBucket:
        config = storage_config(self.settings)
        if config is None:
            raise UsageError(f"{what} needs MEDIA_BUCKET")
        return MediaBucket(config)

    def sweep_media(self) -> Doc:
        bucket = self._bucket("media sweep")
        return media.sweep_as_configured(self.db, bucket, self.settings, self._now()).to_json()

    def upload_media(self, local: LocalFile, account_ids: list[str]) -> Doc:
        """The api's use cases, called here: a session on the bucket, the bytes, the checks."""
        bucket = self._bucket(f"{local.path}: uploading (or give an https URL)")
        request = media.UploadRequest(
            tuple(account_ids), local.mime, local.size, local.sha256, local.path.name
        )
        made = media.create_upload(self.db, bucket, request, "cli", self._now())
        if isinstance(made, media.MediaRefused):
            raise UsageError(f"{local.path}: {made.reason}")
        item = made.item
        if made.upload_url:
            put_resumable(made.upload_url, local, ProgressBar(local.path.name))
            done = media.complete_upload(self.db, bucket, item.id, self._now())
            if isinstance(done, media.MediaRefused):
                raise OperationalError(f"{local.path}: {done.reason}")
            item = done
        return api_media.media_json(item)

    def list_posts(self, where: listing.PostFilter, after: str | None, limit: int) -> Doc:
        try:
            start = listing.parse_cursor(after) if after else None
        except ValueError as exc:
            raise UsageError(f"--after: {exc}") from exc
        page = listing.list_page(self.db, where, start, limit)
        return {"posts": [api_answers.post_json(d) for d in page.rows], "next": page.cursor}

    def show_post(self, post_id: str) -> Doc:
        doc = listing.get_document(self.db, ObjectId(post_id))
        if doc is None:
            raise OperationalError(f"no post {post_id}")
        below = listing.follow_ups_of(self.db, doc["_id"]) if doc.get("hasFollowUps") else None
        return api_answers.post_json(doc, below)

    def edit_post(
        self, post_id: str, changes: post_actions.PostChanges, version: int | None
    ) -> Doc:
        result = post_actions.edit_post(
            self.db,
            ObjectId(post_id),
            changes,
            self._now(),
            self._admission,
            version=version,
        )
        if isinstance(result, scheduling.Invalid):
            raise UsageError("the edit is not valid:\n" + problems_text(result.problems))
        if isinstance(result, post_actions.Refused):
            raise OperationalError(f"post {post_id} not edited: {_why(result)}")
        return self.show_post(post_id)

    def act(self, post_id: str, action: Action, comment: str | None = None) -> Doc:
        result = self._act(ObjectId(post_id), action, comment or "", self._now())
        if isinstance(result, post_actions.Refused):
            raise OperationalError(f"post {post_id} not {PAST_TENSE[action]}: {_why(result)}")
        return self.show_post(post_id)

    def _act(
        self, post_id: ObjectId, action: Action, comment: str, now: datetime
    ) -> post_actions.Done | post_actions.Refused:
        if action == "cancel":
            return post_actions.cancel_post(self.db, post_id, now)
        if action == "retry":
            return post_actions.retry_post(self.db, post_id, now)
        if action == "submit":
            return planning.submit_post(self.db, post_id, now)
        if action == "send_back":
            return planning.send_back_post(self.db, post_id, comment, now)
        return planning.approve_post(self.db, post_id, now, self._admission)

    def reconcile(self, limit: int) -> Doc:
        registry = self._registry()
        report = reconcile.reconcile_unknown(
            self.db, self.settings, registry, self._now(), limit=limit
        )
        return api_answers.reconcile_json(report)

    def import_csv(
        self, handle: IO[str], tz: str | None, allow_late: bool, progress: Progress | None
    ) -> Doc:
        result = csv_import.import_csv(
            self.db,
            handle,
            self._now(),
            self._admission,
            default_time_zone=tz,
            allow_late=allow_late,
            progress=progress,
        )
        if isinstance(result, csv_import.ImportRefused):
            lines = [f"line {e.line}: {e.field}: {e.message}" for e in result.problems]
            raise UsageError("nothing imported; fix these rows:\n" + "\n".join(lines))
        return api_answers.import_json(result)

    # --- recurring posts --------------------------------------------------------------------

    def add_series(self, template: scheduling.PostRequest, rule: str) -> Doc:
        now = self._now()
        made = series_ops.create_series(self.db, template, rule, now, self._admission.media_urls)
        if isinstance(made, scheduling.NoSuchAccount):
            raise UsageError(f"no account {made.account_id!r}")
        if isinstance(made, scheduling.Invalid):
            raise UsageError("the series is not valid:\n" + problems_text(made.problems))
        series_materialise.materialise(self.db, made, now, max_lateness=self.settings.max_lateness)
        return api_answers.series_json(self._series(str(made)))

    def list_series(self, account_id: str | None) -> Doc:
        found = series_ops.list_series(self.db, account_id)
        return {"series": [api_answers.series_json(d) for d in found]}

    def show_series(self, series_id: str) -> Doc:
        return api_answers.series_json(self._series(series_id))

    def edit_series(self, series_id: str, changes: SeriesChanges, since: str | None) -> Doc:
        doc = self._series(series_id)
        split = series_split.edit_following(
            self.db,
            doc,
            changes,
            self._now(),
            since=since,
            media_urls=self._admission.media_urls,
        )
        if isinstance(split, series_ops.NoSuchSeries | scheduling.NoSuchAccount):
            raise OperationalError(f"series {series_id} has ended or lost its account")
        if isinstance(split, scheduling.Invalid):
            raise UsageError(problems_text(split.problems))
        return {
            "seriesId": series_id,
            "successorId": str(split.successor),
            "since": split.at.isoformat(),
        }

    def end_series(self, series_id: str) -> Doc:
        doc = self._series(series_id)
        canceled = series_ops.end_series(self.db, doc["_id"], self._now())
        return {"seriesId": series_id, "canceled": canceled or 0}

    def _series(self, series_id: str) -> Doc:
        found = None
        if ObjectId.is_valid(series_id):
            found = series_ops.get_series(self.db, ObjectId(series_id))
        if found is None:
            raise OperationalError(f"no series {series_id}")
        return found

    # --- accounts ---------------------------------------------------------------------------

    def list_accounts(self) -> list[Doc]:
        return [api_answers.account_json(a) for a in accounts.list_all(self.db)]

    def set_slots(self, account_id: str, time_zone: str, slots: list[str]) -> Doc:
        result = planning.set_posting_slots(self.db, account_id, time_zone, slots, self._now())
        if isinstance(result, scheduling.NoSuchAccount):
            raise OperationalError(f"no account {account_id!r}")
        if isinstance(result, scheduling.Invalid):
            raise UsageError(problems_text(result.problems))
        return planning.slots_json(result)

    def check_accounts(self) -> list[Doc]:
        with _token_key():
            results = account_ops.check_tokens(
                self.db, self._cipher(), self._registry(), self._now()
            )
        return [api_answers.health_json(h) for h in results]

    def connect(self, request: ConnectRequest) -> Doc:
        with _token_key():
            connector = self._registry().connector(request.network)
            assert connector is not None  # the parser offers the registered networks only
            connected = account_ops.connect(
                self.db, self._cipher(), connector, request.login, self._now(), request.account_id
            )
        if isinstance(connected, LoginRefused):
            raise (OperationalError if connected.unavailable else UsageError)(connected.reason)
        return api_answers.connected_json(connected)

    def add_token(self, account_id: str, token: str, details: account_ops.AccountDetails) -> Doc:
        with _token_key():
            stored = account_ops.store_token(
                self.db, self._cipher(), account_id, token, details, self._now()
            )
        if isinstance(stored, account_ops.DetailsMissing):
            raise UsageError("a new account needs --platform and --external-id")
        return {"id": account_id, "added": stored.added, "postsReleased": stored.posts_released}

    # --- the scheduler itself ---------------------------------------------------------------

    def run(self, limit: int | None) -> Doc:
        trigger, registry = Trigger("cli", limit=limit), self._registry()
        strategy = dispatch.for_settings(self.settings)
        summary = execute_once(
            self.settings,
            trigger,
            registry,
            db=self.db,
            dispatch=strategy,
            steps=run_steps(self.settings),
        )
        return summary.to_response()

    def status(self) -> Doc:
        return status.report(self.settings, self.db, self._now(), name_accounts=True).to_dict()

    def lock_state(self) -> Doc:
        return api_answers.lock_json(lock.read_state(self.db).get("lock"), self._now())

    def release_lock(self, force: bool) -> Doc:
        released = lock.force_release(self.db, self._now(), only_if_expired=not force)
        return {"released": released}

    # --- API keys ---------------------------------------------------------------------------

    def create_key(self, name: str, scopes: list[str], accounts: list[str] | None) -> Doc:
        try:
            made = apikeys.create(self.db, name, scopes, self._now(), accounts)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        return api_answers.created_key_json(made)

    def list_keys(self) -> list[Doc]:
        return [api_answers.key_json(k) for k in apikeys.list_all(self.db)]

    def revoke_key(self, key_id: str) -> Doc:
        if not apikeys.revoke(self.db, key_id, self._now()):
            raise OperationalError(f"no live key {key_id}")
        return {"id": key_id, "revoked": True}


@contextmanager
def _token_key() -> Iterator[None]:
    """TOKEN_ENCRYPTION_KEY unset or malformed is the operator's to fix: a usage error."""
    try:
        yield
    except TokenKeyError as exc:
        raise UsageError(str(exc)) from exc


def _why(refused: post_actions.Refused) -> str:
    status = f" (status {refused.status})" if refused.status else ""
    return f"{refused.reason.value}{status}"
