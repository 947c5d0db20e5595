"""The API's shapes are declared once: the committed OpenAPI file is the one generated from
them, the router serves exactly the declared operations, and reading a body with a shape names
every problem."""

from __future__ import annotations

import typing
from datetime import UTC, datetime

import pytest
from flask import Request
from werkzeug.test import EnvironBuilder

from common import apikeys, model, schema
from common.entrypoints import api_answers, api_body, openapi, web
from common.entrypoints.api import app, routes
from common.entrypoints.api.shapes.accounts import ConnectRequest, Platform
from common.entrypoints.api.shapes.admin import Scope
from common.entrypoints.api.shapes.bulk import ReconcileReport, ReconcileRequest
from common.entrypoints.api.shapes.posts import Created, MediaRef, MediaUrl, NewPost, PostPage
from common.operations.scheduling import MAX_KEY_LENGTH
from devstack import openapi as generator


def test_the_committed_spec_is_the_generated_one() -> None:
    assert generator.SPEC.read_text() == generator.render(), "run `make openapi`"


def test_every_declared_operation_has_a_handler_and_no_handler_is_undeclared() -> None:
    declared = {op.operation_id for op in routes.API_OPERATIONS}
    assert set(app.HANDLERS) == declared
    assert len(declared) == len(routes.API_OPERATIONS)


def test_limits_the_spec_states_are_the_ones_the_use_cases_apply() -> None:
    assert typing.get_args(Platform) == model.PLATFORMS
    assert typing.get_args(Scope) == apikeys.SCOPES
    document = openapi.document()
    header = next(
        p
        for p in document["paths"]["/v1/posts"]["post"]["parameters"]
        if p.get("name") == "Idempotency-Key"
    )
    body_key = document["components"]["schemas"]["NewPost"]["properties"]["idempotencyKey"]
    assert header["schema"]["maxLength"] == body_key["maxLength"] == MAX_KEY_LENGTH


def test_the_answered_post_declares_every_field_the_api_shows() -> None:
    post = openapi.document()["components"]["schemas"]["Post"]
    assert {"createdAt", "updatedAt", "groupId", "reviewComment"} <= set(post["properties"])
    assert post["properties"]["content"] == {"$ref": "#/components/schemas/PostContent"}
    assert post["properties"]["status"]["enum"] == list(model.STATUSES)


def test_reading_a_body_names_every_problem_at_once() -> None:
    body = {
        "scheduledAt": 5,
        "text": None,
        "colour": "red",
        "media": [{"url": "https://a.example/x.jpg", "type": "gif", "caption": "x"}, "y"],
        "idempotencyKey": "k" * 201,
    }

    value, problems = schema.read(NewPost, body)

    assert value is None
    assert sorted(field for field, _ in problems) == [
        "accountId",
        "colour",
        "idempotencyKey",
        "media[0].caption",
        "media[0].type",
        "media[1]",
        "scheduledAt",
        "text",
    ]


def test_a_valid_body_reads_into_the_shape_with_its_defaults() -> None:
    value, problems = schema.read(NewPost, {"accountId": "a", "scheduledAt": "now"})

    assert problems == []
    assert value == NewPost(account_id="a", scheduled_at="now")
    assert (value.text, value.media, value.allow_late) == ("", (), False)


def test_numbers_are_checked_by_kind_and_range() -> None:
    assert schema.read(ReconcileRequest, {"limit": 10})[0] == ReconcileRequest(limit=10)
    for wrong in (True, 1.5, "10", 0, 1001):
        value, problems = schema.read(ReconcileRequest, {"limit": wrong})
        assert value is None and [f for f, _ in problems] == ["limit"], wrong


def test_written_answers_leave_out_unset_optional_fields_and_keep_required_nulls() -> None:
    page = PostPage(posts=(), next=None)
    connect = ConnectRequest(user_token="t")

    assert schema.dump(page) == {"posts": [], "next": None}
    assert schema.dump(connect) == {"network": "meta", "userToken": "t"}


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/v2/posts", 404, None),
        ("GET", "/v1/posts/abc:archive", 404, None),
        ("DELETE", "/v1/posts", 405, "GET, HEAD, POST"),
        ("GET", "/v1/posts/abc:cancel", 405, "POST"),
        ("PUT", "/v1/posts/abc", 405, "GET, HEAD, PATCH"),
        ("GET", "/v1/accounts:connect", 405, "POST"),
    ],
)
def test_an_unknown_path_is_404_and_a_wrong_method_is_405_with_allow(
    method: str, path: str, status: int, allow: str | None
) -> None:
    request = Request(EnvironBuilder(method=method, path=path).get_environ())
    with pytest.raises(web.HttpError) as refused:
        routes.route_of(request)
    assert refused.value.status == status
    assert refused.value.headers.get("Allow") == allow


def test_ids_end_at_the_action_of_a_path() -> None:
    request = Request(EnvironBuilder(method="POST", path="/v1/posts/65a:retry").get_environ())
    operation, path_id = routes.route_of(request)
    assert (operation.operation_id, path_id) == ("retry_post", "65a")


def test_a_media_item_is_an_upload_by_id_or_a_url_and_nothing_else() -> None:
    body = {
        "accountId": "a",
        "scheduledAt": "now",
        "media": [
            {"mediaId": "m1", "alt": "a cat"},
            {"url": "https://a.example/x.jpg"},
            {"mediaId": "m2", "type": "image"},
            {"caption": "x"},
        ],
    }

    _, problems = schema.read(NewPost, body)
    value, _ = schema.read(NewPost, {**body, "media": body["media"][:2]})

    assert [field for field, _ in problems] == ["media[2].type", "media[3]"]
    assert value is not None and value.media == (
        MediaRef(media_id="m1", alt="a cat"),
        MediaUrl(url="https://a.example/x.jpg"),
    )


def test_a_login_takes_only_its_networks_fields_and_needs_its_secret() -> None:
    mastodon = {"network": "mastodon", "instance": "https://m.example", "accessToken": "t"}
    asked = api_body.parse_connect(mastodon)
    assert (asked.network, asked.login.secret, asked.login.server) == (
        "mastodon",
        "t",
        "https://m.example",
    )
    for body, fields in (
        (
            {"network": "bluesky", "handle": "a.example", "userToken": "t"},
            ["appPassword", "userToken"],
        ),
        ({"network": "fediverse", "accessToken": "t"}, ["network"]),
        ({"pages": []}, ["pages"]),
    ):
        with pytest.raises(web.HttpError) as refused:
            api_body.parse_connect(body)
        assert sorted(p["field"] for p in refused.value.details["problems"]) == fields, body


def test_a_shape_is_frozen_and_built_from_its_fields_only() -> None:
    report = ReconcileReport(checked=1, published=1, rescheduled=0, still_unknown=0, errors=0)
    with pytest.raises(AttributeError):
        report.checked = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        Created(id="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Created(id="x", already_scheduled=False, colour="red")  # type: ignore[call-arg]
    same = Created(id="x", already_scheduled=False)
    assert same == Created(id="x", already_scheduled=False)
    assert same != Created(id="x", already_scheduled=True)


def test_a_stored_post_is_shown_with_only_the_declared_error_fields() -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    doc = {
        "_id": "p1",
        "accountId": "a",
        "platform": "facebook",
        "status": "scheduled",
        "version": 2,
        "scheduledAt": when,
        "dueAt": when,
        "content": {"text": "hi", "link": None, "media": []},
        "lastError": {"code": "rate_limited", "message": "slow down", "detail": "internal"},
        "lease": {"runId": "r"},
    }

    shown = api_answers.post_json(doc)

    assert shown["lastError"] == {"code": "rate_limited", "message": "slow down", "at": None}
    assert "lease" not in shown and shown["content"] == {"text": "hi", "media": []}
