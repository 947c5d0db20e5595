"""One post's page with its proof, and its actions: move, retry, cancel, look again, read its
permalink, and review (submit, approve, send back)."""

from __future__ import annotations

from collections.abc import Callable

from bson import ObjectId
from flask import Response

from common import accounts, audit, model, permalinks
from common.clock import zone
from common.db import Doc
from common.entrypoints import post_refusals, web
from common.entrypoints.webapp import calendar_grid, context, proof
from common.entrypoints.webapp.context import Ctx, View, networks, route
from common.operations import permalinks as permalink_ops
from common.operations import planning, post_actions, reconcile, scheduling
from common.posts import listing
from common.tokens import TokenKeyError

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
        ctx.service.admission,
        version=version,
    )
    if isinstance(result, scheduling.Invalid):
        ctx.audit("posts.move", [str(post_id)], 422)
        raise web.HttpError(422, "; ".join(p.message for p in result.problems)[:300])
    if isinstance(result, post_actions.Refused):
        status = post_refusals.refusal_status(result)
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
    doc = listing.get_document(ctx.db, post_id)
    if doc is None:
        raise web.HttpError(404, "No such post")
    account = accounts.get(ctx.db, str(doc["accountId"]))
    name = account.name if account else ""
    link = permalinks.permalink(doc, name, account.service_url if account else None)
    own_zone = zone(str(doc.get("timeZone") or "UTC"))
    below = listing.follow_ups_of(ctx.db, post_id) if doc.get("hasFollowUps") else []
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
        follow_ups=[_follow_up(f, doc, account) for f in below],
        local=doc["scheduledAt"].astimezone(own_zone).strftime("%Y-%m-%dT%H:%M"),
        looked=LOOK_WORDS.get(ctx.request.args.get("looked", "")),
    )


def _follow_up(doc: Doc, parent: Doc, account: model.Account | None) -> Doc:
    """A follow-up as its post's page lists it (GET /v1/posts/{id} lists the same): its
    place, its state and, once out, its link or else its id on the network."""
    state = calendar_grid.shown_status(doc)
    on_network = {**doc, "platform": parent["platform"]}  # a follow-up is on its post's network
    name, service = (account.name, account.service_url) if account else ("", None)
    return {
        "id": str(doc["_id"]),
        "kind": doc.get("followUp", "thread"),
        "part": int(doc.get("part", 1)),
        "status": state,
        "words": calendar_grid.STATUS_WORDS.get(state, state),
        "link": permalinks.permalink(on_network, name, service),
        "platformPostId": doc.get("platformPostId"),
        "error": doc.get("lastError"),
    }


PostAction = Callable[[Ctx, ObjectId], "post_actions.Done | post_actions.Refused"]


def _post_action(name: str, action: PostAction) -> View:
    """A button on the post's page: the use case's refusal becomes 409 (404: no such post)."""

    def view(ctx: Ctx) -> Response:
        post_id = _post_id(ctx)
        post_refusals.audited(ctx, name, post_id, action(ctx, post_id))
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
    return planning.approve_post(ctx.db, post_id, ctx.now, ctx.service.admission)


def _send_back(ctx: Ctx, post_id: ObjectId) -> post_actions.Done | post_actions.Refused:
    comment = ctx.request.form.get("comment", "").strip()
    if not comment:
        raise web.HttpError(422, "Say what to change: the comment goes back to the author")
    return planning.send_back_post(ctx.db, post_id, comment, ctx.now)


route("/posts/<post_id>/approve", ["POST"], "approve")(_post_action("posts.approve", _approve))
route("/posts/<post_id>/send-back", ["POST"], "approve")(
    _post_action("posts.send_back", _send_back)
)


def _post_id(ctx: Ctx) -> ObjectId:
    raw = ctx.args.get("post_id", "")
    if not ObjectId.is_valid(raw):
        raise web.HttpError(404, "No such post")
    return ObjectId(raw)
