"""The house's layout, held on the real import graph (`../shared/reference/architecture.md`).

Data flows one way: face -> pipeline -> source -> detect -> enrich -> report -> deliver -> state,
over `core` (and `db`, shared by source and state). Every `import` in every module under `jobs/`
is read with `ast`, including imports inside functions, and checked against the table below. A new
back-edge fails here; `test_a_back_edge_is_caught` shows that it does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

JOBS = Path(__file__).resolve().parent.parent / "jobs"
STAGES = (
    "face", "pipeline", "source", "detect", "enrich", "report", "deliver", "state", "db", "core",
    "demo",
)  # fmt: skip
# folder -> the folders it may import besides itself (architecture.md, "Rules a test holds").
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "db": frozenset({"core"}),
    "source": frozenset({"core", "db"}),
    "state": frozenset({"core", "db"}),
    "detect": frozenset({"core"}),
    "enrich": frozenset({"core"}),
    "report": frozenset({"core"}),
    "deliver": frozenset({"core"}),
    "pipeline": frozenset(
        {"source", "detect", "enrich", "report", "deliver", "state", "db", "core"}
    ),
    "face": frozenset({"pipeline", "core"}),
    "demo": frozenset(set(STAGES) - {"face", "demo"}),
}
# The face may reach the demo only from inside a function (the `demo` command), so that no
# production path loads the demo's code.
LAZY_ONLY = {("face", "demo")}
MAX_LINES = 450


def _imports(tree: ast.AST) -> Iterable[tuple[str, bool]]:
    """(imported module, at module level?) for every import of `jobs.*` in the tree."""
    top_level = {id(node) for node in getattr(tree, "body", [])}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top_level
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in ("jobs", "tests"):
                for alias in node.names:
                    yield f"{node.module}.{alias.name}", id(node) in top_level
            else:
                yield node.module, id(node) in top_level


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "jobs" or len(parts) < 2 or parts[1].startswith("__"):
        return None
    return parts[1]


def violations(sources: Mapping[str, str]) -> list[str]:
    """Every import that breaks the table, as `importer -> imported (why)`.

    `sources` maps a module's dotted name (`jobs.detect.detection`) to its source text."""
    found = []
    for module, source in sorted(sources.items()):
        importer = stage_of(module)
        tree = ast.parse(source)
        for imported, top in _imports(tree):
            target = stage_of(imported)
            if target is None or imported == "jobs" or target == "__version__":
                continue
            if importer is None:  # jobs/__init__.py and jobs/__main__.py
                if module == "jobs.__main__" and target == "face":
                    continue
                found.append(f"{module} -> {imported} (only the face may be the entry point)")
                continue
            if target == importer:
                continue
            if target not in STAGES:
                found.append(f"{module} -> {imported} (not a stage folder)")
            elif target not in ALLOWED[importer] and (importer, target) not in LAZY_ONLY:
                found.append(f"{module} -> {imported} ({importer} may not import {target})")
            elif (importer, target) in LAZY_ONLY and top:
                found.append(f"{module} -> {imported} (only lazily, inside a function)")
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(JOBS.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def real_sources() -> dict[str, str]:
    return {
        _module_name(path): path.read_text(encoding="utf-8")
        for path in sorted(JOBS.rglob("*.py"))
        if "_sql" not in path.parts and "_templates" not in path.parts
    }


def test_the_real_import_graph_keeps_the_rules() -> None:
    assert violations(real_sources()) == []


def test_jobs_holds_only_the_stage_folders() -> None:
    entries = {p.name for p in JOBS.iterdir() if p.name != "__pycache__"}
    loose = entries - set(STAGES) - {"__init__.py", "__main__.py", "_sql", "_templates"}
    assert loose == set(), f"loose entries in jobs/: {sorted(loose)}"
    assert set(STAGES) <= entries


def test_no_module_is_over_the_house_size() -> None:
    big = {
        str(path.relative_to(JOBS)): n
        for path in JOBS.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert big == {}


def test_no_production_module_imports_the_demo() -> None:
    production = {m: s for m, s in real_sources().items() if stage_of(m) != "demo"}
    offenders = [
        module
        for module, source in production.items()
        for imported, top in _imports(ast.parse(source))
        if stage_of(imported) == "demo" and (stage_of(module) != "face" or top)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        # detection reaching back into the CA-database stage: the edge this layout removed.
        ("jobs.detect.probe", "from jobs.source.database import records\n", "detect may not"),
        ("jobs.report.probe", "from jobs.enrich import names\n", "report may not"),
        ("jobs.core.probe", "import jobs.state.ledger\n", "core may not"),
        ("jobs.pipeline.probe", "from jobs.face.cli import main\n", "pipeline may not"),
        ("jobs.state.probe", "def f():\n    from jobs.pipeline import nightly\n", "state may not"),
        ("jobs.face.probe", "from jobs.demo import dataset\n", "only lazily"),
        ("jobs.source.probe", "from jobs import demo\n", "source may not"),
        ("jobs.enrich.probe", "from jobs.loose import thing\n", "not a stage folder"),
    ],
)
def test_a_back_edge_is_caught(module: str, source: str, expected: str) -> None:
    sources = real_sources()
    before = set(violations(sources))
    sources[module] = source
    found = sorted(set(violations(sources)) - before)
    assert len(found) == 1 and expected in found[0], found


def test_lazy_demo_import_from_the_face_is_allowed() -> None:
    sources = {"jobs.face.probe": "def demo():\n    from jobs.demo import run\n"}
    assert violations(sources) == []


def _shared_code_offenders(source: str) -> list[str]:
    """The test modules a tests/ module imports other than through `tests.support`."""
    return [
        imported
        for imported, _ in _imports(ast.parse(source))
        if imported.startswith("tests.")
        and imported != "tests.support"
        and not imported.startswith("tests.support.")
    ]


def test_tests_import_shared_code_only_from_support() -> None:
    """Test modules (and the benchmarks) share fixtures through `tests/support/`, never by
    importing a test module."""
    tests = Path(__file__).resolve().parent
    paths = [*tests.rglob("*.py"), *(tests.parent / "bench").rglob("*.py")]
    offenders = [
        f"{path.relative_to(tests.parent)} -> {imported}"
        for path in sorted(paths)
        for imported in _shared_code_offenders(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("source", "offender"),
    [
        ("from tests import test_schedule\n", "tests.test_schedule"),
        ("from tests.test_source import explain\n", "tests.test_source"),
        ("import tests.conftest\n", "tests.conftest"),
        ("def f():\n    from tests.golden_rows import load\n", "tests.golden_rows"),
        ("from tests.support import golden_rows\n", None),
        ("from tests.support.smtp_server import ScriptedServer\n", None),
    ],
)
def test_an_import_of_another_test_module_is_caught(source: str, offender: str | None) -> None:
    assert _shared_code_offenders(source) == ([offender] if offender else [])


def test_the_readme_layout_names_every_folder_and_module() -> None:
    readme = (JOBS.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Development") :]
    missing = [
        str(path.relative_to(JOBS))
        for path in sorted(JOBS.rglob("*.py"))
        if path.name not in ("__init__.py", "__main__.py") and path.name not in section
    ]
    missing += [f"{stage}/" for stage in STAGES if f"{stage}/" not in section]
    assert missing == []
