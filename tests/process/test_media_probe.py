"""Facts read from the bytes (Pillow, pillow-heif, ffmpeg) and the conversions that keep what a
viewer sees: orientation applied, location dropped, JPEG for Instagram, Bluesky's byte limit."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from common import media_convert
from common.media_probe import Unreadable, probe
from common.media_rules import MediaFacts
from tests.media_support import GPS_IFD, ORIENTATION, image, video


def test_a_jpeg_turned_by_exif_reports_its_displayed_size(tmp_path: Path) -> None:
    facts = probe(image(tmp_path / "p.jpg", (1200, 900), orientation=6))
    assert facts == MediaFacts("image/jpeg", (tmp_path / "p.jpg").stat().st_size, 900, 1200)


def test_a_heic_photo_is_read_by_its_content_whatever_its_name(tmp_path: Path) -> None:
    facts = probe(image(tmp_path / "photo.jpg", (800, 600), "HEIF"))
    assert isinstance(facts, MediaFacts)
    assert (facts.mime, facts.width, facts.height) == ("image/heic", 800, 600)


def test_a_pdf_named_like_a_photo_is_unreadable_as_media(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    found = probe(path)
    assert isinstance(found, Unreadable)
    assert "application/pdf" in found.reason


def test_a_video_reports_duration_codec_frame_rate_and_size(tmp_path: Path) -> None:
    facts = probe(video(tmp_path / "v.mp4", seconds=3.0, size=(360, 640), fps=25))
    assert isinstance(facts, MediaFacts)
    assert (facts.mime, facts.codec, facts.fps, facts.width, facts.height) == (
        "video/mp4",
        "h264",
        25.0,
        360,
        640,
    )
    assert facts.duration_seconds is not None and 2.9 <= facts.duration_seconds <= 3.1


def test_cleaning_applies_the_orientation_and_drops_the_location(tmp_path: Path) -> None:
    source = image(tmp_path / "p.jpg", (1200, 900), orientation=6, gps=True)
    assert media_convert.needs_cleaning(source)
    done = media_convert.clean(source, tmp_path / "clean")
    assert (done.mime, done.width, done.height) == ("image/jpeg", 900, 1200)
    with Image.open(done.path) as cleaned:
        exif = cleaned.getexif()
        assert exif.get(ORIENTATION) is None and not exif.get_ifd(GPS_IFD)
        assert cleaned.size == (900, 1200)
    assert not media_convert.needs_cleaning(done.path)


def test_a_plain_png_needs_no_cleaning_and_becomes_a_jpeg_for_instagram(tmp_path: Path) -> None:
    source = image(tmp_path / "p.png", (640, 640), "PNG")
    assert not media_convert.needs_cleaning(source)
    done = media_convert.to_jpeg(source, tmp_path / "ig")
    assert probe(done.path) == MediaFacts("image/jpeg", done.path.stat().st_size, 640, 640)


def test_an_image_over_a_byte_limit_is_re_encoded_under_it(tmp_path: Path) -> None:
    source = image(tmp_path / "big.png", (1600, 1200), "PNG", noise=True)
    assert source.stat().st_size > 2_000_000
    done = media_convert.fit_bytes(source, tmp_path / "small", 2_000_000)
    assert done is not None
    assert done.path.stat().st_size <= 2_000_000
    assert done.quality in media_convert.QUALITY_STEPS
