"""The test layers hold: every test file sits in a layer folder, and the layer rule refuses a
unit or db test that starts heavier parts (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import heavier_than_its_layer

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_file_sits_in_a_layer_folder() -> None:
    stray = sorted(p.name for p in TESTS.glob("test_*.py"))
    assert stray == [], f"move these into tests/unit, db, process or infra: {stray}"


def test_a_unit_test_may_not_use_the_database_or_start_processes() -> None:
    assert heavier_than_its_layer("unit", ["tmp_path"]) is None
    assert heavier_than_its_layer("unit", ["db", "mongo_uri"]) == (
        "uses the database (move it to tests/db)"
    )
    assert heavier_than_its_layer("unit", ["sandbox_server"]) == (
        "starts processes (move it to tests/process)"
    )


def test_a_db_test_may_use_the_database_but_not_start_processes() -> None:
    assert heavier_than_its_layer("db", ["db", "mongo_uri"]) is None
    for fixtures in (["api_fn", "fn_workdir"], ["bluesky_server"], ["standin"]):
        assert heavier_than_its_layer("db", fixtures) == (
            "starts processes (move it to tests/process)"
        )


def test_process_and_infra_tests_may_use_anything() -> None:
    for layer in ("process", "infra"):
        assert (
            heavier_than_its_layer(layer, ["db", "mongo_uri", "run_fn", "sandbox_server"]) is None
        )
