"""The README's promises held against the code: finding codes, labels, commands, exit codes."""

from __future__ import annotations

import re
from pathlib import Path

from jobs.core import codes, errors, settings
from jobs.face.cli import COMMANDS, build_parser

README = (Path(__file__).parent.parent / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"### {title}" if f"### {title}" in README else f"## {title}")
    end = README.find("\n#", start + 4)
    return README[start : end if end > 0 else None]


def _first_column(section: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE))


def _rows(section: str) -> list[list[str]]:
    """The cells of each table row whose first cell is `quoted`, quotes removed."""
    lines = (line for line in section.splitlines() if line.startswith("| `"))
    return [[cell.strip().strip("`") for cell in line.strip("|").split(" | ")] for line in lines]


def test_every_finding_code_is_documented_and_no_other() -> None:
    in_code = set(codes.CODES)
    assert _first_column(_section("Finding codes")) == in_code


def test_the_finding_codes_table_is_the_registry() -> None:
    """Code, severity, meaning: the README says what `jobs.core.codes` declares, word for word."""
    documented = {
        code: (severity, meaning) for code, severity, meaning in _rows(_section("Finding codes"))
    }
    declared = {c.code: (c.severity.value, c.meaning) for c in codes.CODES.values()}
    assert documented == declared


def test_every_label_is_documented_and_no_other() -> None:
    assert _first_column(_section("Labels")) == set(codes.LABELS)


def test_the_labels_table_is_the_registry() -> None:
    documented = {name: meaning for name, meaning in _rows(_section("Labels"))}
    assert documented == {label.name: label.meaning for label in codes.LABELS.values()}


def test_every_command_is_documented_with_help() -> None:
    rows = _first_column(_section("Commands"))
    documented = {c.split()[1] for c in rows if c.startswith("revwatch ")}
    assert documented == set(COMMANDS)
    help_text = build_parser().format_help()
    for name in COMMANDS:
        assert name in help_text


def test_every_setting_is_documented() -> None:
    section = _section("Configuration")
    undocumented = [
        name
        for name in settings._PARSERS
        if f"`{name}`" not in section and f"REVWATCH_{name.upper()}" not in section
    ]
    assert undocumented == []


def test_exit_codes_match_the_error_classes() -> None:
    table = dict(re.findall(r"^\| (\d) \| ([^|]+) \|", _section("Exit codes"), re.MULTILINE))
    for cls, words in [
        (errors.ConfigError, "configuration"),
        (errors.SourceError, "CA database"),
        (errors.DeliveryError, "delivery"),
        (errors.LockHeldError, "lock"),
        (errors.StateError, "state"),
        (errors.OutputError, "output or outbox"),
    ]:
        assert words in table[str(cls.exit_code)]


def test_the_readme_opens_with_the_two_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)\n```", README, flags=re.DOTALL)
    assert blocks[:2] == ["bash examples/demo.sh", "bash .ci/test"]
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "bash .ci/test" in ci
