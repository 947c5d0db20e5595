"""The calendar, the composer, and one post's page with its proof and actions."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from bson import ObjectId
from flask import Response
from werkzeug.datastructures import MultiDict

from common import accounts, audit, media_records, model, permalinks, posts
from common.clock import TimeError, zone
from common.entrypoints import web
from common.entrypoints.webapp import calendar_grid, context, preview, proof
from common.entrypoints.webapp.context import MAX_ACCOUNTS, Ctx, View, networks, route
from common.media_rules import NetworkLimits, limits_for
from common.model import Content
from common.operations import (
    bulk,
    planning,
    post_actions,
    reconcile,
    scheduling,
    series_materialise,
)
from common.operations import compose as compose_op
from common.operations import permalinks as permalink_ops
from common.operations import series as series_ops
from common.tokens import TokenKeyError
from common.transitions import Refusal
from common.validation import TextMeasure, measure_text

# A month of a busy schedule; more in one view is cut, and the page says so.
MONTH_LIMIT = 1000
MEDIA_ROWS = 4
MAX_FIELD = 70_000


@route("/", ["GET"], "read")
def home(ctx: Ctx) -> Response:
    return ctx.redirect("/calendar")


# --- calendar -------------------------------------------------------------------------------


@route("/calendar", ["GET"], "read")
def calendar(ctx: Ctx) -> Response:
    args = ctx.request.args
    view = args.get("view", "month")
    if view not in calendar_grid.VIEWS:
        raise web.HttpError(400, "view is month, week or list")
    try:
        shown_zone = zone(args.get("tz") or ctx.settings.web_time_zone)
    except TimeError as exc:
        raise web.HttpError(400, str(exc)) from exc
    anchor = _day(args.get("at")) or ctx.now.astimezone(shown_zone).date()
    status = args.get("status") or None
    if status is not None and status not in model.STATUSES:
        raise web.HttpError(400, f"status is one of {', '.join(model.STATUSES)}")
    account = args.get("account") or None
    span = calendar_grid.period(view, anchor, shown_zone)
    where = posts.PostFilter(status, account, None, span.start_utc, span.end_utc)
    page = posts.list_page(ctx.db, where, None, MONTH_LIMIT)
    chips = calendar_grid.chips(page.rows, shown_zone)
    return ctx.page(
        "calendar.html",
        span=span,
        chips=chips,
        days=calendar_grid.by_day(chips),
        cut=page.after is not None,
        accounts=accounts.list_all(ctx.db, MAX_ACCOUNTS),
        statuses=model.STATUSES,
        words=calendar_grid.STATUS_WORDS,
        filters={"status": status or "", "account": account or "", "tz": shown_zone.key},
        today=ctx.now.astimezone(shown_zone).date(),
    )


def _day(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise web.HttpError(400, "at is a date, YYYY-MM-DD") from exc


# --- moving a post --------------------------------------------------------------------------


@route("/posts/<post_id>/move", ["POST"], "write")
def move(ctx: Ctx) -> Response:
    post_id = _post_id(ctx)
    form = ctx.request.form
    version = _version(form.get("version", ""))
    at, tz = form.get("scheduledAt", "").strip(), form.get("timeZone", "").strip() or None
    changes = post_actions.PostChanges(scheduled_at=at, time_zone=tz)
    result = post_actions.edit_post(
        ctx.db,
        post_id,
        changes,
        ctx.now,
        max_lateness=ctx.settings.max_lateness,
        version=version,
        tasks=ctx.service.tasks,
    )
    if isinstance(result, scheduling.Invalid):
        ctx.audit("posts.move", [str(post_id)], 422)
        raise web.HttpError(422, "; ".join(p.message for p in result.problems)[:300])
    if isinstance(result, post_actions.Refused):
        status = 412 if result.reason == Refusal.STALE else 409
        status = 404 if result.reason == Refusal.NOT_FOUND else status
        ctx.audit("posts.move", [str(post_id)], status)
        raise web.HttpError(status, f"Not moved: {result.reason.value}")
    ctx.audit("posts.move", [str(post_id)], 200)
    return ctx.redirect(_back(form.get("next"), f"/posts/{post_id}"))


def _version(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise web.HttpError(400, "The form lacks the post's version; reload the page")
    return int(raw)


def _back(given: str | None, default: str) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect."""
    if given and given.startswith("/") and not given.startswith("//") and "\\" not in given:
        return given
    return default


# --- one post -------------------------------------------------------------------------------


@route("/posts/<post_id>", ["GET"], "read")
def post_page(ctx: Ctx) -> Response:
    post_id = _post_id(ctx)
    doc = posts.get_document(ctx.db, post_id)
    if doc is None:
        raise web.HttpError(404, "No such post")
    account = accounts.get(ctx.db, str(doc["accountId"]))
    name = account.name if account else ""
    link = permalinks.permalink(doc, name, account.service_url if account else None)
    own_zone = zone(str(doc.get("timeZone") or "UTC"))
    return ctx.page(
        "post.html",
        post=doc,
        post_id=str(post_id),
        account=account,
        status=calendar_grid.shown_status(doc),
        words=calendar_grid.STATUS_WORDS,
        events=proof.timeline(doc, audit.for_target(ctx.db, str(post_id))),
        established=proof.how_established(doc),
        permalink=link,
        local=doc["scheduledAt"].astimezone(own_zone).strftime("%Y-%m-%dT%H:%M"),
        looked=LOOK_WORDS.get(ctx.request.args.get("looked", "")),
    )


PostAction = Callable[[Ctx, ObjectId], "post_actions.Done | post_actions.Refused"]


def _post_action(name: str, action: PostAction) -> View:
    """A button on the post's page: the use case's refusal becomes 409 (404: no such post)."""

    def view(ctx: Ctx) -> Response:
        post_id = _post_id(ctx)
        result = action(ctx, post_id)
        if isinstance(result, post_actions.Refused):
            status = 404 if result.reason == Refusal.NOT_FOUND else 409
            ctx.audit(name, [str(post_id)], status)
            raise web.HttpError(status, f"Refused: {result.reason.value}")
        ctx.audit(name, [str(post_id)], 200)
        return ctx.redirect(_back(ctx.request.form.get("next"), f"/posts/{post_id}"))

    view.__name__ = name.replace(".", "_")
    return view


LOOK_WORDS = {
    "published": "Found on the network: it is published.",
    "rescheduled": "Not found on the network: scheduled again (RECONCILE_POLICY=at_least_once).",
    "still_unknown": "Not found on the network; it stays unknown (it is never sent blindly).",
    "error": "The network could not be asked; try again later.",
}


@route("/posts/<post_id>/look", ["POST"], "write")
def look_again(ctx: Ctx) -> Response:
    """Read the network back for an unknown post (the reconcile use case, for one post)."""
    post_id = _post_id(ctx)
    result = reconcile.look_again(ctx.db, ctx.settings, networks(ctx.settings), post_id, ctx.now)
    if result == "not_unknown":
        ctx.audit("posts.look", [str(post_id)], 409)
        raise web.HttpError(409, "Only a post whose outcome is unknown can be looked for")
    ctx.audit("posts.look", [str(post_id)], 200)
    return ctx.redirect(f"/posts/{post_id}?looked={result}")


@route("/posts/<post_id>/permalink", ["POST"], "write")
def read_permalink(ctx: Ctx) -> Response:
    """Ask Instagram or Threads where a published post can be seen, and keep it."""
    post_id = _post_id(ctx)
    try:
        reader = context.permalinks(ctx.settings)
    except TokenKeyError as exc:
        raise web.HttpError(503, "Token encryption is not configured on the server") from exc
    found = permalink_ops.read_permalink(ctx.db, reader, post_id, ctx.now)
    if isinstance(found, permalink_ops.NotRead):
        ctx.audit("posts.permalink", [str(post_id)], 409)
        raise web.HttpError(409, f"No permalink: {found.reason}")
    ctx.audit("posts.permalink", [str(post_id)], 200)
    return ctx.redirect(f"/posts/{post_id}")


route("/posts/<post_id>/retry", ["POST"], "write")(
    _post_action(
        "posts.retry", lambda ctx, post_id: post_actions.retry_post(ctx.db, post_id, ctx.now)
    )
)
route("/posts/<post_id>/cancel", ["POST"], "write")(
    _post_action(
        "posts.cancel", lambda ctx, post_id: post_actions.cancel_post(ctx.db, post_id, ctx.now)
    )
)


# --- review: a draft is submitted; an approver approves it or sends it back ------------------


route("/posts/<post_id>/submit", ["POST"], "write")(
    _post_action(
        "posts.submit", lambda ctx, post_id: planning.submit_post(ctx.db, post_id, ctx.now)
    )
)


def _approve(ctx: Ctx, post_id: ObjectId) -> post_actions.Done | post_actions.Refused:
    lateness, tasks = ctx.settings.max_lateness, ctx.service.tasks
    return planning.approve_post(ctx.db, post_id, ctx.now, lateness, tasks)


def _send_back(ctx: Ctx, post_id: ObjectId) -> post_actions.Done | post_actions.Refused:
    comment = ctx.request.form.get("comment", "").strip()
    if not comment:
        raise web.HttpError(422, "Say what to change: the comment goes back to the author")
    return planning.send_back_post(ctx.db, post_id, comment, ctx.now)


route("/posts/<post_id>/approve", ["POST"], "approve")(_post_action("posts.approve", _approve))
route("/posts/<post_id>/send-back", ["POST"], "approve")(
    _post_action("posts.send_back", _send_back)
)

# Posts awaiting approval, oldest due first: one page (status_dueAt_id serves it).
APPROVALS_LIMIT = 200


@route("/approvals", ["GET"], "read")
def approvals(ctx: Ctx) -> Response:
    where = posts.PostFilter(status="pending_approval")
    page = posts.list_page(ctx.db, where, None, APPROVALS_LIMIT)
    names = {a.id: a.name for a in accounts.list_all(ctx.db, MAX_ACCOUNTS)}
    return ctx.page(
        "approvals.html",
        waiting=page.rows,
        cut=page.after is not None,
        names=names,
        late={str(d["_id"]) for d in page.rows if d["dueAt"] < ctx.now},
    )


def _post_id(ctx: Ctx) -> ObjectId:
    raw = ctx.args.get("post_id", "")
    if not ObjectId.is_valid(raw):
        raise web.HttpError(404, "No such post")
    return ObjectId(raw)


# --- composer -------------------------------------------------------------------------------


@route("/compose", ["GET"], "write")
def compose_page(ctx: Ctx) -> Response:
    shown_zone = ctx.settings.web_time_zone
    start = ctx.now.astimezone(zone(shown_zone)).replace(second=0, microsecond=0)
    values = {"scheduledAt": start.strftime("%Y-%m-%dT%H:%M"), "timeZone": shown_zone}
    return _composer(ctx, 200, MultiDict(values), {})


@route("/compose", ["POST"], "write")
def compose(ctx: Ctx) -> Response:
    form = ctx.request.form
    chosen = form.getlist("accounts")
    if not chosen:
        return _composer(ctx, 422, form, {"accounts": ["choose at least one account"]})
    if any(len(v) > MAX_FIELD for v in form.values()):
        raise web.HttpError(413, "A field is too long")
    # Several accounts make one group; the form's key names it, so a repeat joins the same.
    group = f"web-{form.get('formKey') or secrets.token_urlsafe(12)}" if len(chosen) > 1 else None
    if form.get("action", "schedule") not in COMPOSE_ACTIONS:
        raise web.HttpError(400, f"action is one of {', '.join(COMPOSE_ACTIONS)}")
    if form.get("action") == "repeat":
        return _repeat(ctx, form, chosen)
    requests = [_request(form, account_id, group) for account_id in chosen]
    result = compose_op.compose(
        ctx.db,
        requests,
        ctx.now,
        ctx.service.tasks,
        max_lateness=ctx.settings.max_lateness,
        media_urls=ctx.service.media_urls,
    )
    if isinstance(result, bulk.BatchRefused):
        return _composer(ctx, 422, form, _field_problems(result.problems, chosen))
    if isinstance(result, scheduling.KeyReused):
        return _composer(ctx, 422, form, {"": ["this form was sent before; reload it"]})
    ids = [str(r.post_id) for r in result.results]
    ctx.audit("posts.create", ids, 201)
    return ctx.redirect(f"/posts/{ids[0]}" if len(ids) == 1 else "/calendar")


def _repeat(ctx: Ctx, form: MultiDict[str, str], chosen: Sequence[str]) -> Response:
    """A series: the post again at each time of an RFC 5545 rule, from the time given, in its
    time zone's wall-clock time; its first occurrences are made at once (the calendar shows
    them), the rest by the runs."""
    if len(chosen) != 1:
        problem = "a repeating post is made for one account at a time"
        return _composer(ctx, 422, form, {"accounts": [problem]})
    template = _request(form, chosen[0], None)
    rule = form.get("rule", "").strip()
    made = series_ops.create_series(ctx.db, template, rule, ctx.now, ctx.service.media_urls)
    if isinstance(made, scheduling.NoSuchAccount):
        return _composer(ctx, 422, form, {"accounts": [f"no account {made.account_id!r}"]})
    if isinstance(made, scheduling.Invalid):
        problems: dict[str, list[str]] = {}
        for p in made.problems:
            problems.setdefault(p.field, []).append(p.message)
        return _composer(ctx, 422, form, problems)
    series_materialise.materialise(ctx.db, made, ctx.now, max_lateness=ctx.settings.max_lateness)
    ctx.audit("series.create", [str(made)], 201)
    return ctx.redirect("/series")


# The composer's buttons: when the posts go out, or the stage they wait in (or a series).
COMPOSE_ACTIONS = ("schedule", "now", "queue", "draft", "submit", "repeat")
_STAGES: dict[str, model.Stage] = {"draft": "draft", "submit": "pending_approval"}
_WHEN = {"now": scheduling.NOW, "queue": scheduling.QUEUE}


def _request(form: Mapping[str, str], account_id: str, group: str | None) -> scheduling.PostRequest:
    action = form.get("action", "schedule")
    return scheduling.PostRequest(
        account_id=account_id,
        scheduled_at=_WHEN.get(action) or form.get("scheduledAt", ""),
        stage=_STAGES.get(action, "scheduled"),
        time_zone=form.get("timeZone") or None,
        text=form.get("text", ""),
        link=form.get("link") or None,
        media=_media(form),
        content_warning=form.get("contentWarning") or None,
        visibility=form.get("visibility") or None,
        # One key per rendered form and account: sending the form twice makes nothing new.
        idempotency_key=f"web:{form['formKey']}:{account_id}" if form.get("formKey") else None,
        group_id=group,
    )


def _media(form: Mapping[str, str]) -> list[dict[str, str]]:
    """Each row: an uploaded item (its id, set by the upload) or else an https URL."""
    items = []
    for n in range(MEDIA_ROWS):
        uploaded, url = form.get(f"mediaId{n}", "").strip(), form.get(f"mediaUrl{n}", "").strip()
        alt = {"alt": form[f"mediaAlt{n}"]} if form.get(f"mediaAlt{n}") else {}
        if uploaded:
            items.append({"mediaId": uploaded, **alt})
        elif url:
            items.append({"url": url, "type": form.get(f"mediaType{n}") or "image", **alt})
    return items


def _field_problems(
    problems: Sequence[bulk.ItemProblem], chosen: Sequence[str]
) -> dict[str, list[str]]:
    """Each refusal under the field it concerns, naming the account it is about."""
    by_field: dict[str, list[str]] = {}
    for p in problems:
        field = p.field.split("[")[0] if p.field.startswith("media") else p.field
        by_field.setdefault(field, []).append(f"{chosen[p.index]}: {p.message}")
    return by_field


def _composer(
    ctx: Ctx, status: int, form: Mapping[str, str], problems: Mapping[str, list[str]]
) -> Response:
    chosen = form.getlist("accounts") if isinstance(form, MultiDict) else []
    return ctx.page(
        "compose.html",
        status,
        form=form,
        chosen=chosen,
        problems=problems,
        accounts=[a for a in accounts.list_all(ctx.db, MAX_ACCOUNTS) if a.status != "disabled"],
        counters=_counters(ctx, form, chosen),
        previews=_previews(ctx, form, chosen),
        media_rows=range(MEDIA_ROWS),
        uploads=bool(ctx.settings.media_bucket),
        form_key=form.get("formKey") or secrets.token_urlsafe(16),
    )


@route("/compose/counters", ["POST"], "write")
def counters(ctx: Ctx) -> Response:
    """The live counters (HTMX swaps them in as the text changes)."""
    form = ctx.request.form
    return ctx.page("counter_items.html", counters=_counters(ctx, form, form.getlist("accounts")))


@route("/compose/preview", ["POST"], "write")
def preview_view(ctx: Ctx) -> Response:
    """How the post will look on each chosen network (HTMX swaps it in as the form changes)."""
    form = ctx.request.form
    return ctx.page("preview_items.html", previews=_previews(ctx, form, form.getlist("accounts")))


def _previews(ctx: Ctx, form: Mapping[str, str], chosen: Sequence[str]) -> list[preview.Preview]:
    content = _content(form)
    attached = _attached(ctx, form)
    return [
        preview.preview(platform, content, attached, *_strictest(platform, content, chosen_here))
        for platform, chosen_here in _by_platform(ctx, chosen).items()
    ]


def _content(form: Mapping[str, str]) -> Content:
    return Content(
        text=form.get("text", ""),
        link=form.get("link") or None,
        content_warning=form.get("contentWarning") or None,
    )


def _by_platform(ctx: Ctx, chosen: Sequence[str]) -> dict[str, list[model.Account]]:
    """The chosen accounts by network; none chosen: every network, with its defaults."""
    known = accounts.load_many(ctx.db, chosen) if chosen else {}
    found: dict[str, list[model.Account]] = {}
    for account in known.values():
        found.setdefault(account.platform, []).append(account)
    return dict(sorted(found.items())) or {p: [] for p in model.PLATFORMS}


def _strictest(
    platform: str, content: Content, chosen: Sequence[model.Account]
) -> tuple[TextMeasure, NetworkLimits]:
    """The count and the media rules of the strictest chosen account (a Mastodon instance
    states its own limits)."""
    counted = [(measure_text(platform, content, a.instance_limits), a) for a in chosen]
    if not counted:
        return measure_text(platform, content), limits_for(platform)
    measure, account = min(counted, key=lambda pair: pair[0].limit)
    return measure, limits_for(platform, account.instance_limits)


def _attached(ctx: Ctx, form: Mapping[str, str]) -> list[preview.Attached]:
    """The media rows: uploaded items with the facts read from their bytes, or URLs."""
    rows = [
        (form.get(f"mediaId{n}", "").strip(), form.get(f"mediaUrl{n}", "").strip(), n)
        for n in range(MEDIA_ROWS)
    ]
    items = media_records.get_many(ctx.db, [m for m, _, _ in rows if m])
    attached = []
    for media_id, url, n in rows:
        alt = form.get(f"mediaAlt{n}", "")
        if media_id:
            item = items.get(media_id)
            label = preview.label_of(item.filename if item else None, media_id)
            attached.append(preview.Attached(label, item.facts if item else None, alt))
        elif url:
            attached.append(preview.Attached(preview.label_of(url, url), None, alt))
    return attached


def _counters(ctx: Ctx, form: Mapping[str, str], chosen: Sequence[str]) -> list[dict[str, Any]]:
    content = _content(form)
    rows = []
    for platform, chosen_here in _by_platform(ctx, chosen).items():
        measure, _ = _strictest(platform, content, chosen_here)
        rows.append(
            {
                "platform": platform,
                "used": measure.used,
                "limit": measure.limit,
                "unit": measure.unit,
                "over": measure.over,
            }
        )
    return rows
