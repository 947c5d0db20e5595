"""The API's post body carries what the other networks need (alt text, Mastodon's content
warning and visibility), and the CLI's remote mode sends them: nothing is dropped on the way."""

from __future__ import annotations

import pytest

from common.entrypoints.api_body import parse_create
from common.entrypoints.cli.remote import request_body
from common.entrypoints.web import HttpError
from common.operations import scheduling


def test_alt_text_content_warning_and_visibility_survive_the_round_trip() -> None:
    request = scheduling.PostRequest(
        account_id="masto",
        scheduled_at="2030-01-01T10:00:00Z",
        text="plot twist",
        media=[{"url": "https://img.example/a.jpg", "type": "image", "alt": "a cat"}],
        content_warning="spoilers",
        visibility="unlisted",
    )

    (parsed,) = parse_create(request_body(request), None, "key:test").requests

    assert parsed.media == [{"url": "https://img.example/a.jpg", "type": "image", "alt": "a cat"}]
    assert (parsed.content_warning, parsed.visibility) == ("spoilers", "unlisted")


def test_a_media_item_with_an_unknown_field_is_refused_by_name() -> None:
    body = {
        "accountId": "a",
        "scheduledAt": "2030-01-01T10:00:00Z",
        "media": [{"url": "https://img.example/a.jpg", "caption": "x"}],
    }
    with pytest.raises(HttpError) as refused:
        parse_create(body, None, "key:test")
    assert refused.value.status == 400
    assert "only url, type and alt" in str(refused.value.details)
