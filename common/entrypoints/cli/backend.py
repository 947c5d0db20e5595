"""Where the CLI's commands go: straight to MongoDB (direct.Direct) or through the api function
(remote.Remote). Every command handler takes a Backend; both answer the API's JSON shapes, so
`--json` prints the same thing in either mode, and both raise UsageError (exit 2) or
OperationalError (exit 1) with a reason."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol

from common.db import Doc
from common.operations import post_actions, scheduling
from common.operations.accounts import AccountDetails
from common.operations.series_split import SeriesChanges
from common.platforms.base import Login
from common.posts import listing

Action = Literal["cancel", "retry", "submit", "approve", "send_back"]
Progress = Callable[[int, int], None]


class UsageError(ValueError):
    """The command line asks for something impossible; exit code 2."""


class OperationalError(RuntimeError):
    """The command was valid but could not be carried out; exit code 1."""


class UnknownAccountError(UsageError):
    """The post names an account there is none of (the command suggests near names)."""

    def __init__(self, account_id: str) -> None:
        super().__init__(f"no account {account_id!r}")
        self.account_id = account_id


@dataclass(frozen=True)
class LocalFile:
    """A file on this machine to upload (cli.uploads.describe reads it)."""

    path: Path
    size: int
    sha256: str
    mime: str


@dataclass(frozen=True)
class ConnectRequest:
    """A login for one network; `account_id` names the account when the login grants one."""

    network: str
    login: Login
    account_id: str | None = None


class Backend(Protocol):
    # posts
    def add_post(self, request: scheduling.PostRequest) -> Doc: ...
    def list_posts(self, where: listing.PostFilter, after: str | None, limit: int) -> Doc: ...
    def show_post(self, post_id: str) -> Doc: ...
    def edit_post(
        self, post_id: str, changes: post_actions.PostChanges, version: int | None
    ) -> Doc: ...
    def act(self, post_id: str, action: Action, comment: str | None = None) -> Doc: ...
    def reconcile(self, limit: int) -> Doc: ...
    def upload_media(self, local: LocalFile, account_ids: list[str]) -> Doc: ...
    def sweep_media(self) -> Doc: ...
    def import_csv(
        self, handle: IO[str], tz: str | None, allow_late: bool, progress: Progress | None
    ) -> Doc: ...
    # recurring posts
    def add_series(self, template: scheduling.PostRequest, rule: str) -> Doc: ...
    def list_series(self, account_id: str | None) -> Doc: ...
    def show_series(self, series_id: str) -> Doc: ...
    def edit_series(self, series_id: str, changes: SeriesChanges, since: str | None) -> Doc: ...
    def end_series(self, series_id: str) -> Doc: ...
    # accounts
    def list_accounts(self) -> list[Doc]: ...
    def check_accounts(self) -> list[Doc]: ...
    def connect(self, request: ConnectRequest) -> Doc: ...
    def set_slots(self, account_id: str, time_zone: str, slots: list[str]) -> Doc: ...
    def add_token(self, account_id: str, token: str, details: AccountDetails) -> Doc: ...
    # the scheduler itself
    def run(self, limit: int | None) -> Doc: ...
    def status(self) -> Doc: ...
    def lock_state(self) -> Doc: ...
    def release_lock(self, force: bool) -> Doc: ...
    # API keys
    def create_key(self, name: str, scopes: list[str], accounts: list[str] | None) -> Doc: ...
    def list_keys(self) -> list[Doc]: ...
    def revoke_key(self, key_id: str) -> Doc: ...


# What both backends answer the same way.
PAST_TENSE = {
    "cancel": "canceled",
    "retry": "rescheduled",
    "submit": "submitted",
    "approve": "approved",
    "send_back": "sent back",
}


def added_json(post: Doc, already: bool, warnings: Sequence[str] = ()) -> Doc:
    shown = {k: post.get(k) for k in ("scheduledAt", "timeZone", "localTime")}
    added = {"id": str(post.get("id") or post.get("_id")), "alreadyScheduled": already, **shown}
    return {**added, "warnings": list(warnings)}
