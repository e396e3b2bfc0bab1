"""Where the package finds its SQL files and Jinja2 templates.

Owns the two directory lookups. In a clone (and an editable install) they are the repository's
top-level `sql/` and `templates/`; an installed wheel carries them as `jobs/_sql` and
`jobs/_templates`. It must not read or parse the files themselves.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def _resource(installed: str, in_repo: str) -> Path:
    packaged = _PACKAGE / installed
    return packaged if packaged.is_dir() else _PACKAGE.parent / in_repo


def sql_dir() -> Path:
    """The directory holding every SQL statement (`sql/`)."""
    return _resource("_sql", "sql")


def templates_dir() -> Path:
    """The directory holding every Jinja2 template (`templates/`)."""
    return _resource("_templates", "templates")
