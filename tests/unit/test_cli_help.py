"""`socialsched --help` says whole sentences and every subcommand says what it does."""

from __future__ import annotations

import argparse

from common.entrypoints.cli.main import build_parser


def _unexplained(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    """Subcommands (at any depth) that `--help` lists without a summary."""
    missing = []
    for group in parser._actions:
        if not isinstance(group, argparse._SubParsersAction):
            continue
        helped = {a.dest for a in group._get_subactions() if a.help}
        for name, sub in group.choices.items():
            if name not in helped:
                missing.append(f"{prefix}{name}")
            missing += _unexplained(sub, f"{prefix}{name} ")
    return missing


def test_the_top_level_help_ends_its_sentence() -> None:
    description = build_parser().description or ""
    assert description.endswith(".") and "SOCIALSCHED_API_URL" in description


def test_every_command_and_subcommand_has_a_summary() -> None:
    assert _unexplained(build_parser()) == []
