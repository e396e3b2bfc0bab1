"""The registry of finding codes and labels (`jobs.core.codes`) is the only place they are spelt.

The README's tables are held to the registry in tests/test_readme.py; here: the registry is well
formed, the golden files speak only its words, and no module under `jobs/` makes a finding from a
string literal or a severity of its own, or spells a code or a label outside the registry.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jobs.core import codes
from jobs.core.model import Severity

ROOT = Path(__file__).resolve().parent.parent
JOBS = ROOT / "jobs"
GOLDEN = Path(__file__).parent / "golden"
REGISTRY = JOBS / "core" / "codes.py"
# The keys under which the golden files list finding codes and labels.
CODE_KEYS = ("finding_codes", "case_finding_codes", "problems")
LABEL_KEYS = ("labels",)


def test_codes_are_dotted_and_labels_are_words() -> None:
    assert len(codes.CODES) >= 30 and len(codes.LABELS) >= 15
    for name, code in codes.CODES.items():
        assert name == code.code
        assert re.fullmatch(r"(detect|data|diff|enrich|watch|dns)(\.[a-z_]+)+", name), name
        assert code.meaning and isinstance(code.severity, Severity)
    for name, label in codes.LABELS.items():
        assert name == label.name
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", name), name
        assert label.meaning and isinstance(label.severity, Severity)


def test_every_constant_is_registered() -> None:
    """A constant declared without `_code`/`_label` would be a code the registry does not know."""
    constants = [v for v in vars(codes).values() if isinstance(v, codes.Code | codes.Label)]
    assert {c.code for c in constants if isinstance(c, codes.Code)} == set(codes.CODES)
    assert {c.name for c in constants if isinstance(c, codes.Label)} == set(codes.LABELS)
    implied = {c.label for c in codes.CODES.values() if c.label is not None}
    assert all(codes.LABELS[label.name] is label for label in implied)


def test_a_label_a_code_implies_is_as_severe_as_the_code() -> None:
    rank = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}
    for code in codes.CODES.values():
        if code.label is not None:
            assert rank[code.label.severity] >= rank[code.severity], code.code


def test_a_finding_has_the_declared_severity() -> None:
    finding = codes.DIFF_NAME_REGISTRABLE_DOMAIN_TYPO.finding("cualtis.net -> cuatis.net")
    assert (finding.code, finding.severity) == ("diff.name.registrable_domain_typo", Severity.ERROR)
    assert finding.message == "cualtis.net -> cuatis.net"


def _golden_words(data: Any) -> Iterator[tuple[str, str]]:
    """("code" | "label", word) for every code and label a golden file names, at any depth."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in CODE_KEYS + LABEL_KEYS and isinstance(value, list):
                kind = "label" if key in LABEL_KEYS else "code"
                yield from ((kind, word) for word in value if isinstance(word, str))
            else:
                yield from _golden_words(value)
    elif isinstance(data, list):
        for item in data:
            yield from _golden_words(item)


def _golden_findings(data: Any) -> Iterator[dict[str, Any]]:
    """Every finding a golden input spells out in full (`code` and `severity`)."""
    if isinstance(data, dict):
        if "code" in data and "severity" in data:
            yield data
        for value in data.values():
            yield from _golden_findings(value)
    elif isinstance(data, list):
        for item in data:
            yield from _golden_findings(item)


def test_the_golden_files_speak_only_the_registry() -> None:
    files = sorted(GOLDEN.rglob("*.json"))
    assert len(files) >= 40
    words: set[tuple[str, str]] = set()
    for path in files:
        data = json.loads(path.read_text())
        words |= set(_golden_words(data))
        for finding in _golden_findings(data):
            declared = codes.CODES.get(finding["code"])
            assert declared is not None, (path, finding["code"])
            assert finding["severity"] == declared.severity.value, (path, finding["code"])
    assert {word for kind, word in words if kind == "code"} <= set(codes.CODES)
    assert {word for kind, word in words if kind == "label"} <= set(codes.LABELS)
    assert any(kind == "code" for kind, _ in words) and any(kind == "label" for kind, _ in words)


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(JOBS.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _literal_findings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, why) for each finding made with a literal code or a severity of its own."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if not (isinstance(name, str) and name.endswith("Finding")):
            continue
        keywords = {k.arg: k.value for k in node.keywords}
        code = node.args[0] if node.args else keywords.get("code")
        severity = node.args[1] if len(node.args) > 1 else keywords.get("severity")
        if isinstance(code, ast.Constant | ast.JoinedStr):
            yield node.lineno, f"{name}() with a literal code"
        if isinstance(severity, ast.Attribute) and getattr(severity.value, "id", "") == "Severity":
            yield node.lineno, f"{name}() with its own Severity"


def test_no_module_makes_a_finding_from_a_literal() -> None:
    """Findings come from the registry (`codes.X.finding(...)`): code and severity can't drift."""
    found = [
        f"{path.relative_to(ROOT)}:{line}: {why}"
        for path, tree in _modules()
        if path != REGISTRY
        for line, why in _literal_findings(tree)
    ]
    assert found == []


def test_the_scan_sees_a_literal_finding() -> None:
    tree = ast.parse('Finding("diff.x", Severity.ERROR, "m")\nDiffFinding(code="diff.y")')
    assert [why for _, why in _literal_findings(tree)] == [
        "Finding() with a literal code",
        "Finding() with its own Severity",
        "DiffFinding() with a literal code",
    ]


def test_no_module_spells_a_code_or_a_label() -> None:
    """Outside the registry a code or a label is named by its constant, never as a string."""
    words = set(codes.CODES) | set(codes.LABELS)
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for path, tree in _modules()
        if path != REGISTRY
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in words
    ]
    assert found == []
