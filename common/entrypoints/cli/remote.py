"""The CLI's commands through the api function (SOCIALSCHED_API_URL, SOCIALSCHED_API_KEY) and
the status function (SOCIALSCHED_STATUS_URL): the laptop holds an API key, not MONGO_URI or
TOKEN_ENCRYPTION_KEY. What only the database can do (run, lock, keys, storing an unchecked
token) is refused with a reason."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, NoReturn

from common import bulk_import, jsonfmt, posts
from common.db import Doc
from common.entrypoints import api_schema
from common.entrypoints.api_client import ApiClient, ApiRefusal, fetch_status
from common.entrypoints.cli.backend import (
    Action,
    ConnectRequest,
    OperationalError,
    Progress,
    UsageError,
)
from common.entrypoints.cli.direct import added_json
from common.entrypoints.cli.uploads import LocalFile, ProgressBar, put_resumable
from common.operations import bulk, post_actions, scheduling
from common.operations.accounts import AccountDetails

_PAST = {"cancel": "canceled", "retry": "rescheduled"}
# Answers that mean the command line (or its key) is wrong, rather than the state of things.
_USAGE_STATUSES = {400, 401, 403, 413, 415, 422, 428}
MAX_BATCH = api_schema.MAX_BATCH
# The API names a login's secret and server as each network does (the shared HTTP contract).
_SECRET_FIELD = {"meta": "userToken", "bluesky": "appPassword"}  # the others: accessToken
_SERVER_FIELD = {"bluesky": "pds"}  # the others: instance


class Remote:
    def __init__(self, client: ApiClient, status_url: str | None) -> None:
        self.client = client
        self.status_url = status_url

    # --- posts ------------------------------------------------------------------------------

    def add_post(self, request: scheduling.PostRequest) -> Doc:
        made = self._call(lambda: self.client.post("/v1/posts", request_body(request)))
        post = self._call(lambda: self.client.get(f"/v1/posts/{made['id']}"))
        return added_json(post, bool(made["alreadyScheduled"]))

    def upload_media(self, local: LocalFile, account_ids: list[str]) -> Doc:
        """POST /v1/media, the bytes to the session it returns, then :complete."""
        body = {
            "accountIds": account_ids,
            "mediaType": local.mime,
            "size": local.size,
            "sha256": local.sha256,
            "filename": local.path.name,
        }
        made = self._call(lambda: self.client.post("/v1/media", body), str(local.path))
        item: Doc = made["media"]
        if made["uploadUrl"]:
            put_resumable(made["uploadUrl"], local, ProgressBar(local.path.name))
            done = self._call(lambda: self.client.post(f"/v1/media/{item['id']}:complete"))
            item = done["media"]
        return item

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

    def reconcile(self, limit: int) -> Doc:
        report: Doc = self._call(lambda: self.client.post("/v1/posts:reconcile", {"limit": limit}))
        return report

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

    # --- accounts ---------------------------------------------------------------------------

    def list_accounts(self) -> list[Doc]:
        listed: list[Doc] = self._call(lambda: self.client.get("/v1/accounts"))["accounts"]
        return listed

    def check_accounts(self) -> list[Doc]:
        return [self._check(str(a["id"])) for a in self.list_accounts()]

    def _check(self, account_id: str) -> Doc:
        health: Doc = self._call(lambda: self.client.post(f"/v1/accounts/{account_id}:check"))
        return health

    def connect(self, request: ConnectRequest) -> Doc:
        login, network = request.login, request.network
        fields: Mapping[str, Any] = {
            "network": None if network == "meta" else network,  # meta: the default
            "accountId": request.account_id,
            _SECRET_FIELD.get(network, "accessToken"): login.secret,
            "handle": login.handle,
            _SERVER_FIELD.get(network, "instance"): login.server,
            "pages": None if login.choose is None else list(login.choose),
        }
        body = {k: v for k, v in fields.items() if v is not None}
        connected: Doc = self._call(lambda: self.client.post("/v1/accounts:connect", body))
        return connected

    def add_token(self, account_id: str, token: str, details: AccountDetails) -> Doc:
        _database_only("accounts add", "use `accounts connect`, which the API checks first")

    # --- the scheduler itself ---------------------------------------------------------------

    def run(self, limit: int | None) -> Doc:
        _database_only("run")

    def status(self) -> Doc:
        if self.status_url is None:
            raise UsageError(
                "in remote mode `status` reads the status function: set SOCIALSCHED_STATUS_URL "
                "(Terraform output status_url)"
            )
        url = self.status_url
        report: Doc = self._call(lambda: fetch_status(url))
        return report

    def lock_state(self) -> Doc:
        _database_only("lock")

    def release_lock(self, force: bool) -> Doc:
        _database_only("lock")

    # --- API keys ---------------------------------------------------------------------------

    def create_key(self, name: str, scopes: list[str], accounts: list[str] | None) -> Doc:
        _database_only("keys")

    def list_keys(self) -> list[Doc]:
        _database_only("keys")

    def revoke_key(self, key_id: str) -> Doc:
        _database_only("keys")

    def _call(self, send: Callable[[], Any], what: str | None = None) -> Any:
        try:
            return send()
        except ApiRefusal as exc:
            raise _error(exc, what) from exc


def _database_only(command: str, instead: str | None = None) -> NoReturn:
    hint = f"; {instead}" if instead else ""
    raise UsageError(
        f"`{command}` works on the database itself: unset SOCIALSCHED_API_URL and use "
        f"MONGO_URI{hint}"
    )


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
