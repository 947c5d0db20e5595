"""Where the CLI's post and account commands go: straight to MongoDB (Direct) or through the
api function (Remote). Both answer the API's JSON shapes, so `--json` prints the same thing in
either mode, and both raise UsageError (exit 2) or OperationalError (exit 1) with a reason."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import IO, Any, Literal, Protocol

from bson import ObjectId
from pymongo.database import Database

from common import accounts, bulk_import, jsonfmt, posts
from common.clock import utcnow
from common.config import Settings
from common.db import Doc, get_database
from common.entrypoints import api_body, api_schema
from common.entrypoints.api_client import ApiClient, ApiRefusal
from common.operations import accounts as account_ops
from common.operations import bulk, post_actions, scheduling
from common.platforms.meta.onboarding import OnboardingFailed
from common.tokens import TokenCipher, TokenKeyError
from common.validation import Problem

Action = Literal["cancel", "retry"]
Progress = Callable[[int, int], None]
_PAST = {"cancel": "canceled", "retry": "rescheduled"}


class UsageError(ValueError):
    """The command line asks for something impossible; exit code 2."""


class OperationalError(RuntimeError):
    """The command was valid but could not be carried out; exit code 1."""


class Backend(Protocol):
    def add_post(self, request: scheduling.PostRequest) -> Doc: ...
    def list_posts(self, where: posts.PostFilter, after: str | None, limit: int) -> Doc: ...
    def show_post(self, post_id: str) -> Doc: ...
    def edit_post(
        self, post_id: str, changes: post_actions.PostChanges, version: int | None
    ) -> Doc: ...
    def act(self, post_id: str, action: Action) -> Doc: ...
    def import_csv(
        self, handle: IO[str], tz: str | None, allow_late: bool, progress: Progress | None
    ) -> Doc: ...
    def list_accounts(self) -> list[Doc]: ...
    def check_accounts(self) -> list[Doc]: ...
    def connect(self, user_token: str, pages: list[str] | None) -> Doc: ...


def problems_text(problems: Sequence[Problem]) -> str:
    return "\n".join(f"{p.field}: {p.message}" for p in problems)


def _added(post: Doc, already: bool) -> Doc:
    shown = {k: post.get(k) for k in ("scheduledAt", "timeZone", "localTime")}
    return {"id": str(post.get("id") or post.get("_id")), "alreadyScheduled": already, **shown}


# --- straight to the database ---------------------------------------------------------------


class Direct:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def db(self) -> Database[Doc]:
        return get_database(self.settings)

    def _now(self) -> datetime:
        return utcnow()

    def add_post(self, request: scheduling.PostRequest) -> Doc:
        result = scheduling.schedule_post(self.db, request, self._now())
        if isinstance(result, scheduling.NoSuchAccount):
            raise UsageError(
                f"no account {result.account_id!r}; add it with `socialsched accounts add`"
            )
        if isinstance(result, scheduling.Invalid):
            raise UsageError("the post is not valid:\n" + problems_text(result.problems))
        if isinstance(result, scheduling.KeyReused):
            raise UsageError(f"the key {result.key!r} was used before for another post")
        doc = posts.get_document(self.db, result.post_id)
        assert doc is not None  # just made or found; posts are never deleted
        return _added(doc, isinstance(result, scheduling.AlreadyScheduled))

    def list_posts(self, where: posts.PostFilter, after: str | None, limit: int) -> Doc:
        try:
            start = posts.parse_cursor(after) if after else None
        except ValueError as exc:
            raise UsageError(f"--after: {exc}") from exc
        page = posts.list_page(self.db, where, start, limit)
        return {"posts": [api_body.post_json(d) for d in page.rows], "next": page.cursor}

    def show_post(self, post_id: str) -> Doc:
        doc = posts.get_document(self.db, ObjectId(post_id))
        if doc is None:
            raise OperationalError(f"no post {post_id}")
        return api_body.post_json(doc)

    def edit_post(
        self, post_id: str, changes: post_actions.PostChanges, version: int | None
    ) -> Doc:
        result = post_actions.edit_post(
            self.db, ObjectId(post_id), changes, self._now(), version=version
        )
        if isinstance(result, scheduling.Invalid):
            raise UsageError("the edit is not valid:\n" + problems_text(result.problems))
        if isinstance(result, post_actions.Refused):
            raise OperationalError(f"post {post_id} not edited: {_why(result)}")
        return self.show_post(post_id)

    def act(self, post_id: str, action: Action) -> Doc:
        use_case = post_actions.cancel_post if action == "cancel" else post_actions.retry_post
        result = use_case(self.db, ObjectId(post_id), self._now())
        if isinstance(result, post_actions.Refused):
            raise OperationalError(f"post {post_id} not {_PAST[action]}: {_why(result)}")
        return self.show_post(post_id)

    def import_csv(
        self, handle: IO[str], tz: str | None, allow_late: bool, progress: Progress | None
    ) -> Doc:
        result = bulk.import_csv(
            self.db,
            handle,
            self._now(),
            default_time_zone=tz,
            allow_late=allow_late,
            progress=progress,
        )
        if isinstance(result, bulk.ImportRefused):
            lines = [f"line {e.line}: {e.field}: {e.message}" for e in result.problems]
            raise UsageError("nothing imported; fix these rows:\n" + "\n".join(lines))
        already = [{"line": a.line, "id": str(a.post_id)} for a in result.already]
        return {"imported": result.count, "alreadyScheduled": already}

    def list_accounts(self) -> list[Doc]:
        return [api_body.account_json(a) for a in accounts.list_all(self.db)]

    def check_accounts(self) -> list[Doc]:
        results = account_ops.check_tokens(self.db, self.settings, self._now())
        return [h.to_dict() for h in results]

    def connect(self, user_token: str, pages: list[str] | None) -> Doc:
        try:
            TokenCipher.from_settings(self.settings)
            result = account_ops.connect_meta(
                self.db, self.settings, user_token, self._now(), pages
            )
        except TokenKeyError as exc:
            raise UsageError(str(exc)) from exc
        if isinstance(result, OnboardingFailed):
            if result.kind == "not_configured":
                raise UsageError(result.reason)
            raise OperationalError(f"Meta onboarding failed: {result.reason}")
        return {
            "accounts": [
                {
                    "id": a.account_id,
                    "platform": a.platform,
                    "externalId": a.external_id,
                    "name": a.name,
                    "added": a.added,
                }
                for a in result.accounts
            ]
        }


def _why(refused: post_actions.Refused) -> str:
    status = f" (status {refused.status})" if refused.status else ""
    return f"{refused.reason.value}{status}"


# --- through the api function ---------------------------------------------------------------

# Answers that mean the command line (or its key) is wrong, rather than the state of things.
_USAGE_STATUSES = {400, 401, 403, 413, 415, 422, 428}
MAX_BATCH = api_schema.MAX_BATCH


class Remote:
    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def add_post(self, request: scheduling.PostRequest) -> Doc:
        made = self._call(lambda: self.client.post("/v1/posts", request_body(request)))
        post = self._call(lambda: self.client.get(f"/v1/posts/{made['id']}"))
        return _added(post, bool(made["alreadyScheduled"]))

    def list_posts(self, where: posts.PostFilter, after: str | None, limit: int) -> Doc:
        params = {
            "status": where.status,
            "accountId": where.account_id,
            "dueAfter": _rfc3339(where.due_after),
            "dueBefore": _rfc3339(where.due_before),
            "cursor": after,
            "limit": limit,
        }
        query = {k: v for k, v in params.items() if v is not None}
        page: Doc = self._call(lambda: self.client.get("/v1/posts", query))
        return page

    def show_post(self, post_id: str) -> Doc:
        post: Doc = self._call(lambda: self.client.get(f"/v1/posts/{post_id}"))
        return post

    def edit_post(
        self, post_id: str, changes: post_actions.PostChanges, version: int | None
    ) -> Doc:
        if version is None:  # the API always checks a version: the one just read
            version = int(self.show_post(post_id)["version"])
        body = changes_body(changes)
        edited: Doc = self._call(
            lambda: self.client.patch(f"/v1/posts/{post_id}", body, {"If-Match": f'"{version}"'}),
            f"post {post_id} not edited",
        )
        return edited

    def act(self, post_id: str, action: Action) -> Doc:
        done: Doc = self._call(
            lambda: self.client.post(f"/v1/posts/{post_id}:{action}"),
            f"post {post_id} not {_PAST[action]}",
        )
        return done

    def import_csv(
        self, handle: IO[str], tz: str | None, allow_late: bool, progress: Progress | None
    ) -> Doc:
        """Sent in batches of 1,000 rows, each all or nothing (a file of more rows may stop
        part way; importing it again sends only what is missing)."""
        rows, header_problems = bulk_import.read(handle)
        if header_problems:
            lines = [f"line 1: {p.column}: {p.message}" for p in header_problems]
            raise UsageError("nothing imported; fix these rows:\n" + "\n".join(lines))
        if not rows:
            raise UsageError("nothing imported; fix these rows:\nline 1: file: no rows to import")
        created, already = 0, []
        for start in range(0, len(rows), MAX_BATCH):
            chunk = rows[start : start + MAX_BATCH]
            items = [request_body(bulk.row_request(r, tz, allow_late)) for r in chunk]
            answer = self._batch(items, chunk)
            for row, item in zip(chunk, answer["posts"], strict=True):
                if item["alreadyScheduled"]:
                    already.append({"line": row.line, "id": item["id"]})
                else:
                    created += 1
            if progress is not None:
                progress(start + len(chunk), len(rows))
        return {"imported": created, "alreadyScheduled": already}

    def _batch(self, items: list[Doc], rows: Sequence[bulk_import.Row]) -> Doc:
        try:
            answer: Doc = self.client.post("/v1/posts", {"posts": items})
        except ApiRefusal as exc:
            if not exc.problems:
                raise _error(exc) from exc
            lines = [
                f"line {rows[p['index']].line}: {_COLUMN.get(p['field'], p['field'])}: "
                f"{p['message']}"
                for p in exc.problems
            ]
            raise UsageError("nothing imported; fix these rows:\n" + "\n".join(lines)) from exc
        return answer

    def list_accounts(self) -> list[Doc]:
        listed: list[Doc] = self._call(lambda: self.client.get("/v1/accounts"))["accounts"]
        return listed

    def check_accounts(self) -> list[Doc]:
        return [self._check(str(a["id"])) for a in self.list_accounts()]

    def _check(self, account_id: str) -> Doc:
        health: Doc = self._call(lambda: self.client.post(f"/v1/accounts/{account_id}:check"))
        return health

    def connect(self, user_token: str, pages: list[str] | None) -> Doc:
        body: Doc = {"userToken": user_token, **({"pages": pages} if pages else {})}
        connected: Doc = self._call(lambda: self.client.post("/v1/accounts:connect", body))
        return connected

    def _call(self, send: Callable[[], Any], what: str | None = None) -> Any:
        try:
            return send()
        except ApiRefusal as exc:
            raise _error(exc, what) from exc


_COLUMN = {"accountId": "account", "scheduledAt": "at", "idempotencyKey": "key"}


def _error(exc: ApiRefusal, what: str | None = None) -> UsageError | OperationalError:
    lines = [f"{p.get('field')}: {p.get('message')}" for p in exc.problems]
    message = "\n".join([f"{what}: {exc.message}" if what else exc.message, *lines])
    if exc.status in _USAGE_STATUSES:
        return UsageError(message)
    return OperationalError(message)


def request_body(request: scheduling.PostRequest) -> Doc:
    body: Doc = {"accountId": request.account_id, "scheduledAt": request.scheduled_at}
    optional: Mapping[str, Any] = {
        "timeZone": request.time_zone,
        "text": request.text or None,
        "link": request.link,
        "media": [dict(m) for m in request.media] or None,
        "idempotencyKey": request.idempotency_key,
        "allowLate": request.allow_late or None,
        "contentWarning": request.content_warning,
        "visibility": request.visibility,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def changes_body(changes: post_actions.PostChanges) -> Doc:
    fields: Mapping[str, Any] = {
        "text": changes.text,
        "link": changes.link,
        "media": None if changes.media is None else [dict(m) for m in changes.media],
        "scheduledAt": changes.scheduled_at,
        "timeZone": changes.time_zone,
        "allowLate": changes.allow_late or None,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _rfc3339(value: Any) -> str | None:
    return None if value is None else jsonfmt.to_rfc3339(value)
