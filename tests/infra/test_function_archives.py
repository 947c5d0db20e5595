"""The source archives Terraform uploads: built the same way, they hold the function, its
requirements and the whole common/ package, and import in a fresh virtual environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests import tfconfig

ARCHIVE = tfconfig.data_sources("archive_file")["source"]
# One archive per function directory (local.function_sources in functions.tf).
SOURCES = sorted(set(tfconfig.locals_()["function_sources"].values()))
# The entry points each archive must register, with functions-framework's signature type.
ENTRY_POINTS = {
    "run": {"on_tick": "cloudevent", "run_http": "http"},
    "status": {"status": "http"},
    "api": {"api": "http"},
    "publish": {"publish": "http"},
    "web": {"web": "http"},
}
REPORT_REGISTRY = (
    "import json, main\n"
    "from functions_framework import _function_registry as r\n"
    "print(json.dumps(dict(r.REGISTRY_MAP)))\n"
)


def build(source: str, directory: Path) -> Path:
    source_dir = tfconfig.module_path(ARCHIVE["source_dir"].replace("${each.key}", source))
    return tfconfig.build_archive(
        source_dir, ARCHIVE["excludes"], ARCHIVE["output_file_mode"], directory / f"{source}.zip"
    )


def test_archives_cover_every_function_source() -> None:
    assert sorted(ENTRY_POINTS) == SOURCES


@pytest.mark.parametrize("source", sorted(ENTRY_POINTS))
def test_archive_holds_main_requirements_and_all_of_common(source: str, tmp_path: Path) -> None:
    names = set(zipfile.ZipFile(build(source, tmp_path)).namelist())
    assert {"main.py", "requirements.txt"} <= names
    common = tfconfig.ROOT / "common"
    expected = {f"common/{p.relative_to(common).as_posix()}" for p in common.rglob("*.py")}
    assert expected <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.split("/")[0] == "devstack"]


@pytest.mark.parametrize("source", sorted(ENTRY_POINTS))
def test_archive_is_the_same_for_the_same_content(source: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = build(source, tmp_path / "a").read_bytes()
    assert build(source, tmp_path / "b").read_bytes() == first


@pytest.mark.slow
@pytest.mark.parametrize("source", sorted(ENTRY_POINTS))
def test_archive_imports_in_a_fresh_venv_with_only_its_requirements(
    source: str, tmp_path: Path
) -> None:
    archive = build(source, tmp_path)
    unpacked = tmp_path / "src"
    zipfile.ZipFile(archive).extractall(unpacked)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # Only what the archive declares; pip's own cache is reused between runs.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path))}
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(unpacked / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    imported = subprocess.run(
        [str(python), "-I", "-c", f"import sys; sys.path.insert(0, '.'); {REPORT_REGISTRY}"],
        cwd=unpacked,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert imported.returncode == 0, imported.stderr[-3000:]
    registry = json.loads(imported.stdout.strip().splitlines()[-1])
    assert registry == ENTRY_POINTS[source]
