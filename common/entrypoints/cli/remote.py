"""The CLI's commands through the api function (SOCIALSCHED_API_URL, SOCIALSCHED_API_KEY) and
the status function (SOCIALSCHED_STATUS_URL): the laptop holds an API key, not MONGO_URI or
TOKEN_ENCRYPTION_KEY. Storing an unchecked token, which only the database can do, is refused
with a reason."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import IO, Any, NoReturn
from urllib.parse import quote

from common import jsonfmt
from common.db import Doc
from common.entrypoints.api.shapes import posts as post_shapes
from common.entrypoints.api_client import ApiClient, ApiRefusal, fetch_status
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
from common.entrypoints.cli.remote_import import import_parts, import_refused, merged_imports
from common.entrypoints.cli.uploads import ProgressBar, put_resumable
from common.operations import post_actions, scheduling
from common.operations.accounts import AccountDetails
from common.operations.series_split import SeriesChanges
from common.posts import listing

# The api's action names (its paths are camelCase).
_PATHS = {"send_back": "sendBack"}
# Answers that mean the command line (or its key) is wrong, rather than the state of things.
_USAGE_STATUSES = {400, 413, 415, 422, 428}
# The command is fine, the key is not: an operational error (exit 1) that says which.
_KEY_REFUSED = {
    401: "the API did not accept SOCIALSCHED_API_KEY (401): {reason}; check the key, or make "
    "a new one with `socialsched keys create` (on the database, or with another admin key)",
    403: "SOCIALSCHED_API_KEY may not do this (403): {reason}",
}
# Cloud Run's invoker check on run_http answers without a reason of ours.
_INVOKER_REFUSED = (
    "Cloud Run refused the call to SOCIALSCHED_RUN_URL ({status}) before the run function saw "
    "it: set SOCIALSCHED_RUN_ID_TOKEN=$(gcloud auth print-identity-token), signed in as an "
    "account that may invoke it (run_http_invokers, or a project owner)"
)
MAX_BATCH = post_shapes.MAX_BATCH
# The api takes bodies up to 2 MiB (MAX_BODY_BYTES); a part's CSV text stays well under it.
IMPORT_PART_BYTES = 1_500_000
# The API names a login's secret and server as each network does (the shared HTTP contract).
_SECRET_FIELD = {"meta": "userToken", "bluesky": "appPassword"}  # the others: accessToken
_SERVER_FIELD = {"bluesky": "pds"}  # the others: instance


class Remote:
    """`runner`: the run function (SOCIALSCHED_RUN_URL), with the same key, if set."""

    def __init__(
        self, client: ApiClient, status_url: str | None, runner: ApiClient | None = None
    ) -> None:
        self.client = client
        self.status_url = status_url
        self.runner = runner

    # --- posts ------------------------------------------------------------------------------

    def add_post(self, request: scheduling.PostRequest) -> Doc:
        try:
            made = self.client.post("/v1/posts", request_body(request))
        except ApiRefusal as exc:
            if [p.get("field") for p in exc.problems] == ["accountId"]:
                raise UnknownAccountError(request.account_id) from exc
            raise _error(exc) from exc
        post = self._call(lambda: self.client.get(f"/v1/posts/{made['id']}"))
        warnings = [str(w["message"]) for w in made.get("warnings", ())]
        return added_json(post, bool(made["alreadyScheduled"]), warnings)

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

    def sweep_media(self) -> Doc:
        swept: Doc = self._call(lambda: self.client.post("/v1/media:sweep"), "media not swept")
        return swept

    def list_posts(self, where: listing.PostFilter, after: str | None, limit: int) -> Doc:
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

    def act(self, post_id: str, action: Action, comment: str | None = None) -> Doc:
        body = None if comment is None else {"comment": comment}
        path = f"/v1/posts/{post_id}:{_PATHS.get(action, action)}"
        done: Doc = self._call(
            lambda: self.client.post(path, body), f"post {post_id} not {PAST_TENSE[action]}"
        )
        return done

    def reconcile(self, limit: int) -> Doc:
        report: Doc = self._call(lambda: self.client.post("/v1/posts:reconcile", {"limit": limit}))
        return report

    def import_csv(
        self, handle: IO[str], tz: str | None, allow_late: bool, progress: Progress | None
    ) -> Doc:
        """The file in one request, every row checked before anything is stored, as on the
        database. A file larger than one request may hold goes in parts of whole rows, each all
        or nothing; when a part is refused, the posts the earlier parts made are named (and
        importing the file again makes none of them twice)."""
        text = handle.read()
        parts = import_parts(text, IMPORT_PART_BYTES)
        done: list[Doc] = []
        for number, part in enumerate(parts, start=1):
            body: Doc = {"csv": part.text, "allowLate": allow_late}
            if tz:
                body["timeZone"] = tz
            try:
                answer: Doc = self.client.post("/v1/posts:import", body)
            except ApiRefusal as exc:
                raise import_refused(exc, part, done) or _error(exc) from exc
            done.append(part.in_file(answer))
            if progress is not None:
                progress(number, len(parts))
        return merged_imports(done)

    # --- recurring posts --------------------------------------------------------------------

    def add_series(self, template: scheduling.PostRequest, rule: str) -> Doc:
        body = {
            "accountId": template.account_id,
            "start": template.scheduled_at,
            "timeZone": template.time_zone,
            "rule": rule,
            "text": template.text,
            "link": template.link,
            "media": [dict(m) for m in template.media],
        }
        made: Doc = self._call(lambda: self.client.post("/v1/series", body))
        return made

    def list_series(self, account_id: str | None) -> Doc:
        query = {} if account_id is None else {"accountId": account_id}
        listed: Doc = self._call(lambda: self.client.get("/v1/series", query))
        return listed

    def show_series(self, series_id: str) -> Doc:
        shown: Doc = self._call(lambda: self.client.get(f"/v1/series/{series_id}"))
        return shown

    def edit_series(self, series_id: str, changes: SeriesChanges, since: str | None) -> Doc:
        fields: Mapping[str, Any] = {
            "since": since,
            "text": changes.text,
            "link": changes.link,
            "media": None if changes.media is None else [dict(m) for m in changes.media],
            "rule": changes.rule,
            "start": changes.start,
        }
        body = {k: v for k, v in fields.items() if v is not None}
        split: Doc = self._call(
            lambda: self.client.patch(f"/v1/series/{series_id}", body, {}),
            f"series {series_id} not changed",
        )
        return split

    def end_series(self, series_id: str) -> Doc:
        ended: Doc = self._call(
            lambda: self.client.post(f"/v1/series/{series_id}:end"),
            f"series {series_id} not ended",
        )
        return ended

    # --- accounts ---------------------------------------------------------------------------

    def list_accounts(self) -> list[Doc]:
        listed: list[Doc] = self._call(lambda: self.client.get("/v1/accounts"))["accounts"]
        return listed

    def set_slots(self, account_id: str, time_zone: str, slots: list[str]) -> Doc:
        body = {"timeZone": time_zone, "slots": slots}
        stored: Doc = self._call(
            lambda: self.client.post(f"/v1/accounts/{account_id}:setSlots", body),
            f"slots of {account_id} not set",
        )
        return stored

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
        """One run by the run function (run_http), which takes an admin API key."""
        if self.runner is None:
            raise UsageError(
                "in remote mode `run` asks the run function: set SOCIALSCHED_RUN_URL (Terraform "
                "output run_http_url) and, unless run_http_invokers is allUsers, "
                "SOCIALSCHED_RUN_ID_TOKEN"
            )
        runner, body = self.runner, None if limit is None else {"limit": limit}
        try:
            answer = runner.post("", body)
        except ApiRefusal as exc:
            if exc.status in (401, 403) and not exc.from_app:
                raise OperationalError(_INVOKER_REFUSED.format(status=exc.status)) from exc
            raise _error(exc, "no run") from exc
        result: Doc = answer["result"]
        return result

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
        state: Doc = self._call(lambda: self.client.get("/v1/lock"))
        return state

    def release_lock(self, force: bool) -> Doc:
        body = {"force": force}
        released: Doc = self._call(lambda: self.client.post("/v1/lock:release", body))
        return released

    # --- API keys ---------------------------------------------------------------------------

    def create_key(self, name: str, scopes: list[str], accounts: list[str] | None) -> Doc:
        fields = {"name": name, "scopes": scopes, "accounts": accounts}
        body = {k: v for k, v in fields.items() if v is not None}
        made: Doc = self._call(lambda: self.client.post("/v1/keys", body), "no key made")
        return made

    def list_keys(self) -> list[Doc]:
        listed: list[Doc] = self._call(lambda: self.client.get("/v1/keys"))["keys"]
        return listed

    def revoke_key(self, key_id: str) -> Doc:
        path = f"/v1/keys/{quote(key_id, safe='')}:revoke"
        revoked: Doc = self._call(lambda: self.client.post(path), f"key {key_id} not revoked")
        return revoked

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


def _error(exc: ApiRefusal, what: str | None = None) -> UsageError | OperationalError:
    lines = [f"{p.get('field')}: {p.get('message')}" for p in exc.problems]
    reason = _KEY_REFUSED.get(exc.status, "{reason}").format(reason=exc.message)
    message = "\n".join([f"{what}: {reason}" if what else reason, *lines])
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
        "stage": None if request.stage == "scheduled" else request.stage,
        "firstComment": request.first_comment,
        "thread": list(request.thread) or None,
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
