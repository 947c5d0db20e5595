"""The per-network media table and its checks: each rule refuses what its network refuses and
names the limit; conversions the table allows are not refusals."""

from __future__ import annotations

import pytest

from common.clock import utcnow
from common.media_rules import (
    LIMITS,
    MastodonInstanceLimits,
    MediaFacts,
    check_all,
    check_item,
    limits_for,
    needs_conversion,
)
from common.media_types import sniff

JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
HEIC_HEAD = b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00"
MP4_HEAD = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"
MOV_HEAD = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00"
WEBP_HEAD = b"RIFF\x00\x10\x00\x00WEBPVP8 "


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (JPEG_HEAD, "image/jpeg"),
        (PNG_HEAD, "image/png"),
        (HEIC_HEAD, "image/heic"),
        (MP4_HEAD, "video/mp4"),
        (MOV_HEAD, "video/quicktime"),
        (WEBP_HEAD, "image/webp"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"<html><body>", None),
    ],
)
def test_the_type_is_read_from_the_bytes(head: bytes, mime: str | None) -> None:
    assert sniff(head) == mime


def photo(
    mime: str = "image/jpeg", size: int = 500_000, w: int = 1080, h: int = 1080
) -> MediaFacts:
    return MediaFacts(mime=mime, bytes=size, width=w, height=h)


def reel(seconds: float = 30.0, codec: str = "h264", fps: float = 30.0) -> MediaFacts:
    return MediaFacts(
        mime="video/mp4",
        bytes=50_000_000,
        width=1080,
        height=1920,
        duration_seconds=seconds,
        codec=codec,
        fps=fps,
    )


def rules(platform: str, facts: MediaFacts, alt: str = "") -> list[str]:
    return [p.rule for p in check_item(LIMITS[platform], facts, alt)]


def test_instagram_takes_a_square_jpeg_and_a_30_second_h264_reel() -> None:
    assert rules("instagram", photo()) == []
    assert rules("instagram", reel()) == []


def test_instagram_refuses_aspect_ratios_outside_4_5_to_1_91_and_names_the_size() -> None:
    tall = check_item(LIMITS["instagram"], photo(w=1080, h=1920))
    wide = check_item(LIMITS["instagram"], photo(w=2000, h=1000))
    assert [p.rule for p in tall + wide] == ["aspectRatio", "aspectRatio"]
    assert "1080x1920" in tall[0].message and "0.80 to 1.91" in tall[0].message
    assert rules("instagram", photo(w=1080, h=1350)) == []  # exactly 4:5


def test_instagram_converts_png_heic_and_webp_instead_of_refusing_them() -> None:
    for mime in ("image/png", "image/heic", "image/webp"):
        assert rules("instagram", photo(mime)) == []
        assert needs_conversion(LIMITS["instagram"], photo(mime))
    assert not needs_conversion(LIMITS["instagram"], photo())
    assert rules("instagram", photo("image/gif")) == ["type"]


def test_instagram_refuses_an_image_over_8_mb_a_short_or_long_reel_and_other_codecs() -> None:
    assert rules("instagram", photo(size=9 * 1024 * 1024)) == ["size"]
    assert rules("instagram", reel(seconds=2.0)) == ["duration"]
    assert rules("instagram", reel(seconds=16 * 60.0)) == ["duration"]
    assert rules("instagram", reel(codec="vp9")) == ["codec"]
    assert rules("instagram", reel(fps=15.0)) == ["frameRate"]


def test_bluesky_re_encodes_large_images_but_takes_no_video() -> None:
    big = photo(size=5_000_000)
    assert rules("bluesky", big) == []
    assert needs_conversion(LIMITS["bluesky"], big)
    assert not needs_conversion(LIMITS["bluesky"], photo(size=2_000_000))
    assert rules("bluesky", reel()) == ["type"]


def test_alt_text_is_limited_where_the_network_limits_it() -> None:
    assert rules("bluesky", photo(), alt="a" * 2001) == ["altText"]
    assert rules("instagram", photo(), alt="a" * 1001) == ["altText"]
    assert rules("threads", photo(), alt="a" * 5000) == []


def test_mastodon_limits_come_from_the_instance_when_read() -> None:
    instance = MastodonInstanceLimits(
        max_characters=500,
        image_size_limit=1_000_000,
        video_size_limit=10_000_000,
        description_limit=100,
        max_media_attachments=2,
        supported_mime_types=frozenset({"image/jpeg", "video/mp4"}),
        read_at=utcnow(),
    )
    limits = limits_for("mastodon", instance)
    assert [p.rule for p in check_item(limits, photo(size=2_000_000), "a" * 101)] == [
        "size",
        "altText",
    ]
    assert [p.rule for p in check_item(limits, photo("image/png"))] == ["type"]
    assert check_item(LIMITS["mastodon"], photo("image/png")) == []


def test_facebook_here_carries_photos_only() -> None:
    assert rules("facebook", reel()) == ["type"]
    assert rules("facebook", MediaFacts("application/pdf", 1000)) == ["type"]


def test_every_problem_names_its_item() -> None:
    found = check_all("instagram", [(photo(), ""), (photo(w=3000, h=1000), ""), (reel(1.0), "")])
    assert [(index, p.rule) for index, p in found] == [(1, "aspectRatio"), (2, "duration")]
