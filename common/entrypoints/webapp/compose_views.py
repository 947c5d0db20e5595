"""The composer: one post for several accounts (or a series), its live counters and previews."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flask import Response
from werkzeug.datastructures import MultiDict

from common import accounts, media_records, model
from common.clock import zone
from common.entrypoints import web
from common.entrypoints.webapp import preview
from common.entrypoints.webapp.context import MAX_ACCOUNTS, Ctx, route
from common.media_rules import NetworkLimits, limits_for
from common.model import Content
from common.operations import compose as compose_op
from common.operations import creating, scheduling, series_materialise
from common.operations import series as series_ops
from common.validation import MAX_THREAD_PARTS, THREAD_NETWORKS, TextMeasure, measure_text

MEDIA_ROWS = 4
MAX_FIELD = 70_000
# Thread part boxes shown without JavaScript (with it, "Add a part" adds more).
PART_BOXES = 3


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
    if any(len(v) > MAX_FIELD for _, v in form.items(multi=True)):
        raise web.HttpError(413, "A field is too long")
    # Several accounts make one group; the form's key names it, so a repeat joins the same.
    group = f"web-{form.get('formKey') or secrets.token_urlsafe(12)}" if len(chosen) > 1 else None
    if form.get("action", "schedule") not in COMPOSE_ACTIONS:
        raise web.HttpError(400, f"action is one of {', '.join(COMPOSE_ACTIONS)}")
    if form.get("action") == "repeat":
        return _repeat(ctx, form, chosen)
    requests = [_request(form, account_id, group) for account_id in chosen]
    result = compose_op.compose(ctx.db, requests, ctx.now, ctx.service.admission)
    if isinstance(result, creating.BatchRefused):
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
    if template.thread or template.first_comment is not None:
        problem = "a repeating post has no follow-ups: schedule them with one post"
        return _composer(ctx, 422, form, {"thread": [problem]})
    rule = form.get("rule", "").strip()
    media_urls = ctx.service.admission.media_urls
    made = series_ops.create_series(ctx.db, template, rule, ctx.now, media_urls)
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


def _request(
    form: MultiDict[str, str], account_id: str, group: str | None
) -> scheduling.PostRequest:
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
        first_comment=form.get("firstComment", "").strip() or None,
        thread=_parts(form),
    )


def _parts(form: MultiDict[str, str]) -> list[str]:
    """The thread's further parts, in order; the boxes left empty are no parts."""
    return [part for part in form.getlist("thread") if part.strip()]


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
    problems: Sequence[creating.ItemProblem], chosen: Sequence[str]
) -> dict[str, list[str]]:
    """Each refusal under the field it concerns, naming the account it is about."""
    by_field: dict[str, list[str]] = {}
    for p in problems:
        # A media row's refusal shows under the media; a thread part's under its own box.
        field = p.field.split("[")[0] if p.field.startswith("media") else p.field
        by_field.setdefault(field, []).append(f"{chosen[p.index]}: {p.message}")
    return by_field


def _composer(
    ctx: Ctx, status: int, form: MultiDict[str, str], problems: Mapping[str, list[str]]
) -> Response:
    chosen = form.getlist("accounts")
    listed = accounts.list_all(ctx.db, MAX_ACCOUNTS)
    found = _grouped(a for a in listed if a.id in chosen)  # the list has them: no second read
    # A part refused is shown under its box: the boxes are the parts sent, blanks left out.
    parts = _parts(form)
    boxes = parts + [""] * max(PART_BOXES - len(parts), 1 if len(parts) < MAX_THREAD_PARTS else 0)
    return ctx.page(
        "compose.html",
        status,
        form=form,
        chosen=chosen,
        problems=problems,
        accounts=[a for a in listed if a.status != "disabled"],
        counters=_counters(form, found),
        part_counters=_part_counters(form.get("firstComment", ""), boxes, found),
        previews=_previews(ctx, form, found),
        thread_boxes=boxes,
        max_parts=MAX_THREAD_PARTS,
        media_rows=range(MEDIA_ROWS),
        uploads=bool(ctx.settings.media_bucket),
        form_key=form.get("formKey") or secrets.token_urlsafe(16),
    )


@route("/compose/counters", ["POST"], "write")
def counters(ctx: Ctx) -> Response:
    """The live counters (HTMX swaps them in as the text changes); each follow-up's own
    counter goes out of band to its box."""
    form = ctx.request.form
    found = _by_platform(ctx, form.getlist("accounts"))
    return ctx.page(
        "counters_swap.html",
        counters=_counters(form, found),
        part_counters=_part_counters(form.get("firstComment", ""), form.getlist("thread"), found),
    )


@route("/compose/preview", ["POST"], "write")
def preview_view(ctx: Ctx) -> Response:
    """How the post will look on each chosen network (HTMX swaps it in as the form changes)."""
    form = ctx.request.form
    found = _by_platform(ctx, form.getlist("accounts"))
    return ctx.page("preview_items.html", previews=_previews(ctx, form, found))


def _previews(
    ctx: Ctx, form: Mapping[str, str], found: Mapping[str, list[model.Account]]
) -> list[preview.Preview]:
    content = _content(form)
    attached = _attached(ctx, form)
    return [
        preview.preview(platform, content, attached, *_strictest(platform, content, chosen_here))
        for platform, chosen_here in found.items()
    ]


def _content(form: Mapping[str, str]) -> Content:
    return Content(
        text=form.get("text", ""),
        link=form.get("link") or None,
        content_warning=form.get("contentWarning") or None,
    )


def _by_platform(ctx: Ctx, chosen: Sequence[str]) -> dict[str, list[model.Account]]:
    """The chosen accounts by network; none chosen: every network, with its defaults."""
    return _grouped(accounts.load_many(ctx.db, chosen).values() if chosen else ())


def _grouped(chosen: Iterable[model.Account]) -> dict[str, list[model.Account]]:
    found: dict[str, list[model.Account]] = {}
    for account in chosen:
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


def _counters(
    form: Mapping[str, str], found: Mapping[str, list[model.Account]]
) -> list[dict[str, Any]]:
    content = _content(form)
    return [
        _row(platform, _strictest(platform, content, here)[0]) for platform, here in found.items()
    ]


def _part_counters(
    comment: str, parts: Sequence[str], found: Mapping[str, list[model.Account]]
) -> dict[str, list[dict[str, Any]]]:
    """Each follow-up box's count, by the id of its box, as the follow-ups are checked
    (validation.check_follow_ups): a thread's parts on the networks that thread only."""
    counted = {"firstComment": [_row(p, measure_text(p, Content(text=comment))) for p in found]}
    for n, part in enumerate(parts[:MAX_THREAD_PARTS]):
        counted[f"thread{n}"] = [
            _row(p, measure_text(p, Content(text=part))) for p in found if p in THREAD_NETWORKS
        ]
    return counted


def _row(platform: str, measure: TextMeasure) -> dict[str, Any]:
    return {
        "platform": platform,
        "used": measure.used,
        "limit": measure.limit,
        "unit": measure.unit,
        "over": measure.over,
    }
