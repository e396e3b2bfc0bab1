"""The SQL statements, loaded once from `sql/` and checked before any of them runs.

Owns reading `.sql` files, choosing a statement's dialect variant and checking its header against
its text. Each file holds one statement and starts with a header comment:

    -- Returns: what the rows are.
    -- Params: since, until, subscribers[]

`name[]` marks a list parameter (an expanding `IN :name`). The dialect variant of `x` is
`x.<dialect>.sql` (`postgresql`, `sqlite`, `mysql`), else `x.sql`. A statement whose declared
parameters differ from the `:name` placeholders in its text fails at load time, not at 02:15.

Whoever runs statements declares them: `QuerySet.declare(...)` checks every declared statement at
once (so a missing or malformed file fails at start) and gives a view that refuses any other name
with `UndeclaredStatement`. DDL scripts for databases the job owns (`sql/schema/`, several
statements each) are read by `script`. This module must not execute anything.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import TextClause, bindparam, text

from jobs.core.errors import ConfigError
from jobs.core.resources import sql_dir

# `:name` placeholders, skipping PostgreSQL casts (`::int`) and time literals inside strings.
_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_STRING = re.compile(r"'(?:[^']|'')*'")
_HEADER = re.compile(r"^--\s*(returns|params)\s*:\s*(.*)$", re.IGNORECASE)
DIALECTS = ("postgresql", "sqlite", "mysql")


class UndeclaredStatement(LookupError):
    """Code asked for a statement its owner did not declare: a bug in the code, not a setting."""


@dataclass(frozen=True)
class Statement:
    """One checked SQL statement, ready to execute with bound parameters."""

    name: str
    path: Path
    sql: str
    params: tuple[str, ...]
    list_params: tuple[str, ...]
    returns: str

    def clause(self) -> TextClause:
        """The statement as a SQLAlchemy `text()` with its list parameters expanding."""
        clause = text(self.sql)
        if self.list_params:
            clause = clause.bindparams(*(bindparam(p, expanding=True) for p in self.list_params))
        return clause


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def parse_statement(name: str, path: Path, source: str) -> Statement:
    """Check one file's header against its text; ConfigError naming the file if they differ."""
    returns = ""
    declared: list[str] = []
    for line in source.splitlines():
        match = _HEADER.match(line.strip())
        if match and match.group(1).lower() == "returns":
            returns = match.group(2).strip()
        elif match:
            declared = [p.strip() for p in match.group(2).split(",") if p.strip()]
    if not returns:
        raise ConfigError(f"{path}: the header lacks a '-- Returns:' line")
    body = _strip_comments(source).strip().rstrip(";").strip()
    if not body:
        raise ConfigError(f"{path}: no statement")
    if ";" in _STRING.sub("''", body):
        raise ConfigError(f"{path}: more than one statement; one statement per file")
    used = set(_PLACEHOLDER.findall(_STRING.sub("''", body)))
    names = {p.removesuffix("[]") for p in declared}
    if used != names:
        raise ConfigError(
            f"{path}: declared parameters {sorted(names)} but the statement uses {sorted(used)}"
        )
    return Statement(
        name=name,
        path=path,
        sql=body,
        params=tuple(sorted(names)),
        list_params=tuple(sorted(p[:-2] for p in declared if p.endswith("[]"))),
        returns=returns,
    )


class QuerySet:
    """The statements of one directory (a profile, or the ledger) for one SQL dialect."""

    def __init__(self, directory: Path, dialect: str) -> None:
        if not directory.is_dir():
            raise ConfigError(f"no SQL directory {directory}")
        self.directory = directory
        self.dialect = dialect
        self._declared: frozenset[str] | None = None
        self._statements: dict[str, Statement] = {}
        for path in sorted(directory.glob("*.sql")):
            parts = path.name[: -len(".sql")].split(".")
            if len(parts) == 2 and parts[1] in DIALECTS:
                if parts[1] != dialect:
                    continue
            elif len(parts) != 1:
                raise ConfigError(f"{path}: expected NAME.sql or NAME.<dialect>.sql")
            name = parts[0]
            statement = parse_statement(name, path, path.read_text(encoding="utf-8"))
            # A dialect variant beats the portable file whatever order the glob gives.
            if name not in self._statements or len(parts) == 2:
                self._statements[name] = statement

    def __getitem__(self, name: str) -> Statement:
        if self._declared is not None and name not in self._declared:
            raise UndeclaredStatement(
                f"{self.directory}: statement {name!r} is not declared (declared: "
                f"{', '.join(sorted(self._declared))}); add it to the statement list of its owner"
            )
        try:
            return self._statements[name]
        except KeyError:
            raise ConfigError(
                f"{self.directory}: no statement {name!r} for dialect {self.dialect}"
            ) from None

    def require(self, *names: str) -> None:
        """Fail at start if any statement the job will need is missing."""
        for name in names:
            self[name]

    def declare(self, *names: str) -> QuerySet:
        """These statements alone, each checked now; any other name raises UndeclaredStatement.

        A view: the cached set that `load` shares stays whole, so each owner (a profile, the
        engines' session set-up) holds exactly its own list.
        """
        self.require(*names)
        view = copy.copy(self)
        view._declared = frozenset(names)
        view._statements = {name: self._statements[name] for name in view._declared}
        return view

    def names(self) -> list[str]:
        return sorted(self._statements)


_CACHE: dict[tuple[Path, str], QuerySet] = {}


def load(subdir: str, dialect: str) -> QuerySet:
    """The statements under `sql/<subdir>` for `dialect`, read once per process."""
    directory = sql_dir() / subdir
    key = (directory, dialect)
    if key not in _CACHE:
        _CACHE[key] = QuerySet(directory, dialect)
    return _CACHE[key]


def script(subdir: str, name: str, dialect: str) -> list[str]:
    """The statements of the DDL script `sql/<subdir>/<name>.<dialect>.sql`, in order.

    Only for databases the job or its tests own (the demo's generic schema): scripts are run as
    they are, without the header check of the job's statements.
    """
    path = sql_dir() / subdir / f"{name}.{dialect}.sql"
    if not path.is_file():
        raise ConfigError(f"no {name} schema for database dialect {dialect!r}: {path} is missing")
    # The DDL files hold no string literals, so dropping everything after "--" is safe and
    # keeps a ";" in a comment from splitting a statement.
    body = _strip_comments(path.read_text(encoding="utf-8"))
    return [statement for statement in body.split(";") if statement.strip()]
