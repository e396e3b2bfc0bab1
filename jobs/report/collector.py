"""What a report keeps of its cases while they arrive batch by batch, in bounded memory.

Owns the report's order of cases (`case_order`), what one case says in report.json (`case_json`)
and what is kept of each case once seen: the Summary's and the triage's counts, its (issuer,
serial, revocation time) for the ledger and the Message-ID, and its row serialised as text (the
CSV line and the compact report.json line, under its order key) in a spool that moves to a
private (0600, unlinked) temporary file once large. Whole cases are kept only for the
FULL_CASES most severe: those the caller's linting function lints (by the order before linting,
as a one-shot report would choose them) and those the mail shows in full (by the final order).
So a mass revocation night holds a few hundred cases, not a hundred thousand.
It must not read the CA database, enrich or lint by itself (the pipeline passes the linting and
marking functions in), render templates, nor write any file but its own spool.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from jobs.core import codes
from jobs.core.atomic import PRIVATE_FILE
from jobs.core.model import Case, LintDiff, NameChange, Severity
from jobs.report import csvfile, triage
from jobs.report.filters import UNKNOWN, format_serial, iso, replacement_delay, text_or_none
from jobs.report.triage import Reason, Triage

# The label enrichment gives a case whose replacement differs from it by a likely typo: the
# founding incident's pattern, so those cards come first.
SUSPICIOUS_LABEL = codes.LABEL_LIKELY_TYPO.name
# Cases linted and shown in full in the mail bodies; a mass revocation night lists the rest in the
# CSV only, which keeps the mail readable (a message still over 10 MB shows fewer of them in full:
# `jobs.pipeline.nightly`, `outputs.MESSAGE_BUDGET`).
FULL_CASES = 200
# Serialised rows stay in memory up to this size, then go to a temporary file: a 100,000-case
# night serialises to about 340 MB of text, which the final CSV and report.json copy once more.
SPOOL_IN_MEMORY = 16 * 1024 * 1024
# The rows are kept as the files are written: UTF-8.
_ENCODING = "utf-8"

OrderKey = tuple[int, bool, bool, int, str, str]
Linting = Callable[[list[Case]], list[Case]]
Marking = Callable[[Case], Case]


@dataclass(frozen=True)
class Summary:
    """Counts over the cases of one report; each breakdown is (name, count), largest first.

    `by_reason` uses the RFC 5280 reason name, `by_operator` the revocation's `revoked_by`
    ("unknown" when the CA did not record one), `by_issuer` the issuing CA's DN, `by_label` each
    label of each case (a case with two labels counts twice). `with_replacement` is how many cases
    have a replacement certificate. `by_domain` counts each case once per registrable domain of
    its names (Public Suffix List): a mass revocation's customers at a glance.
    """

    total: int
    by_reason: tuple[tuple[str, int], ...]
    by_operator: tuple[tuple[str, int], ...]
    by_issuer: tuple[tuple[str, int], ...]
    by_label: tuple[tuple[str, int], ...]
    with_replacement: int
    by_domain: tuple[tuple[str, int], ...] = ()


def case_order(case: Case) -> OrderKey:
    """The sort key putting the most suspicious case first: error-level findings or labels (a
    typo in a registrable domain, a broken record) before warnings, then likely typos, then the
    shortest time to revocation (unknown times last), then issuer and serial so it is stable."""
    seconds, (issuer, serial) = case.seconds_to_revocation, case.key
    return (
        triage.RANK[triage.case_severity(case)],
        SUSPICIOUS_LABEL not in case.labels,
        seconds is None,
        seconds or 0,
        issuer,
        serial,
    )


class CaseRows:
    """Every case's row as text: its CSV line and its compact report.json line, read back in
    report order (`case_order`, then the order the cases arrived in) once sealed."""

    def __init__(self, in_memory: int | None = None) -> None:
        self._limit = SPOOL_IN_MEMORY if in_memory is None else in_memory
        self._stream: IO[bytes] = io.BytesIO()
        self._size = 0
        self._index: list[tuple[OrderKey, int, int, int, int]] = []
        self._sealed = False
        # The file goes when the rows do (a report context may be rendered more than once).
        self._close = weakref.finalize(self, _close, [self._stream])

    def add(self, key: OrderKey, sequence: int, csv_line: str, json_line: str) -> None:
        if self._sealed:
            raise ValueError("rows are sealed")
        csv_bytes = csv_line.encode(_ENCODING)
        json_bytes = json_line.encode(_ENCODING)
        if isinstance(self._stream, io.BytesIO) and self._size > self._limit:
            self._spill()
        self._stream.write(csv_bytes)
        self._stream.write(json_bytes)
        self._index.append((key, sequence, self._size, len(csv_bytes), len(json_bytes)))
        self._size += len(csv_bytes) + len(json_bytes)

    def _spill(self) -> None:
        # Unlinked at once, so it goes when closed; it lives as long as the rows (no `with`).
        spool = tempfile.TemporaryFile(prefix="revwatch-rows-")  # noqa: SIM115
        os.fchmod(spool.fileno(), PRIVATE_FILE)
        assert isinstance(self._stream, io.BytesIO)
        spool.write(self._stream.getbuffer())
        self._stream.close()
        self._stream = spool
        self._close.detach()
        self._close = weakref.finalize(self, _close, [spool])

    def seal(self) -> None:
        """No more rows: put them in report order."""
        self._index.sort()
        self._sealed = True

    @property
    def spilled(self) -> bool:
        """Whether the rows went to a temporary file."""
        return not isinstance(self._stream, io.BytesIO)

    def __len__(self) -> int:
        return len(self._index)

    def csv_lines(self) -> Iterator[str]:
        """Each case's CSV line (`jobs.report.csvfile`), in report order."""
        for _, _, offset, csv_size, _ in self._sealed_index():
            yield self._read(offset, csv_size)

    def json_lines(self) -> Iterator[bytes]:
        """Each case's report.json object on one line (json's compact form), in report order,
        as UTF-8: report.json is put together as bytes, a mass night's being hundreds of MB."""
        for _, _, offset, csv_size, json_size in self._sealed_index():
            self._stream.seek(offset + csv_size)
            yield self._stream.read(json_size)

    def _sealed_index(self) -> list[tuple[OrderKey, int, int, int, int]]:
        if not self._sealed:
            raise ValueError("rows are read once sealed")
        return self._index

    def _read(self, offset: int, size: int) -> str:
        self._stream.seek(offset)
        return self._stream.read(size).decode(_ENCODING)


def _close(holder: list[IO[bytes]]) -> None:
    holder[0].close()


@dataclass(frozen=True)
class Collected:
    """What a report needs of its cases: the counts, the triage, the cases shown in full (most
    severe first), every row, and each case's (issuer, serial, revoked_at) in arrival order."""

    summary: Summary
    triage: Triage
    shown: tuple[Case, ...]
    rows: CaseRows
    keys: tuple[tuple[str, str, datetime], ...]


class Collector:
    """Fed enriched cases batch by batch (`add`), then `finish`ed once (module docstring).

    `lint` is given the FULL_CASES most severe cases (by `case_order` before linting) at the end
    and returns them linted, in the same order; `mark` is applied to every case just before it is
    counted and serialised (after linting). Both default to leaving cases as they are."""

    def __init__(
        self,
        *,
        limit: int | None = None,
        lint: Linting | None = None,
        mark: Marking | None = None,
        in_memory: int | None = None,
    ) -> None:
        self._limit = FULL_CASES if limit is None else limit
        self._lint, self._mark = lint, mark
        # Not yet settled: the most severe by the order before linting, at most twice the limit.
        self._unlinted: list[tuple[OrderKey, int, Case]] = []
        # Settled: the most severe by the final order, the candidates to be shown in full.
        self._shown: list[tuple[OrderKey, int, Case]] = []
        self._rows = CaseRows(in_memory)
        self._keys: list[tuple[str, str, datetime]] = []
        self._csv_line = csvfile.Lines()
        self._counts: dict[str, Counter[str]] = {
            name: Counter() for name in ("reason", "operator", "issuer", "label", "domain")
        }
        self._with_replacement = 0
        self._severities: Counter[Severity] = Counter()
        self._reasons: Counter[tuple[str, str]] = Counter()
        self._finished = False

    def add(self, cases: Iterable[Case]) -> None:
        """Take a batch of cases; those out of the running for linting are settled now."""
        if self._finished:
            raise ValueError("the collector is finished")
        for case in cases:
            self._keys.append((*case.key, case.revocation.revoked_at))
            self._unlinted.append((case_order(case), len(self._keys), case))
        if len(self._unlinted) > 2 * self._limit:
            self._settle(self._evict(self._unlinted))

    def finish(self) -> Collected:
        """Lint the most severe, settle them, and put every row in report order."""
        self._finished = True
        self._settle(self._evict(self._unlinted))
        kept, self._unlinted = self._unlinted, []
        cases = [case for _, _, case in kept]
        if self._lint is not None and cases:
            cases = self._lint(cases)
        self._settle([(seq, case) for (_, seq, _), case in zip(kept, cases, strict=True)])
        self._shown.sort()
        self._rows.seal()
        return Collected(
            summary=self._summary(),
            triage=Triage(
                need_review=self._severities[Severity.ERROR],
                by_severity=tuple((s, n) for s in triage.SEVERITIES if (n := self._severities[s])),
                reasons=tuple(
                    Reason(name, meaning, count)
                    for (name, meaning), count in sorted(
                        self._reasons.items(), key=lambda item: (-item[1], item[0])
                    )
                ),
            ),
            shown=tuple(case for _, _, case in self._shown[: self._limit]),
            rows=self._rows,
            keys=tuple(self._keys),
        )

    def _evict(self, pool: list[tuple[OrderKey, int, Case]]) -> list[tuple[int, Case]]:
        # (key, arrival) never ties, so the sort never compares two cases.
        pool.sort()
        out = [(seq, case) for _, seq, case in pool[self._limit :]]
        del pool[self._limit :]
        return out

    def _settle(self, items: list[tuple[int, Case]]) -> None:
        """Count, serialise and offer for showing each case, in its final form (marked, and
        linted when it is among the most severe)."""
        if not items:
            return
        mark = self._mark
        final = [(seq, mark(case) if mark else case) for seq, case in items]
        verdict = triage.triage([case for _, case in final])
        self._severities.update(dict(verdict.by_severity))
        self._reasons.update({(r.name, r.meaning): r.count for r in verdict.reasons})
        for seq, case in final:
            self._count(case)
            key, row = case_order(case), case_json(case)
            csv_line = self._csv_line(csvfile.cells(row))
            self._rows.add(key, seq, csv_line, json.dumps(row, ensure_ascii=False))
            self._shown.append((key, seq, case))
        if len(self._shown) > 2 * self._limit:
            self._evict(self._shown)

    def _count(self, case: Case) -> None:
        counts = self._counts
        counts["reason"][case.revocation.reason] += 1
        counts["operator"][text_or_none(case.revocation.revoked_by) or UNKNOWN] += 1
        counts["issuer"][text_or_none(case.certificate.issuer) or UNKNOWN] += 1
        counts["label"].update(case.labels)
        counts["domain"].update(sorted({d or UNKNOWN for d in case.domains}))
        self._with_replacement += case.replacement is not None

    def _summary(self) -> Summary:
        def largest_first(name: str) -> tuple[tuple[str, int], ...]:
            return tuple(sorted(self._counts[name].items(), key=lambda i: (-i[1], i[0])))

        return Summary(
            total=len(self._rows),
            by_reason=largest_first("reason"),
            by_operator=largest_first("operator"),
            by_issuer=largest_first("issuer"),
            by_label=largest_first("label"),
            with_replacement=self._with_replacement,
            by_domain=largest_first("domain"),
        )


def collect(cases: Iterable[Case]) -> Collected:
    """The one-shot report: every case in one batch (tests, the demo, a caller holding them)."""
    collector = Collector()
    collector.add(cases)
    return collector.finish()


# --- one case's report.json object -------------------------------------------------------------


def case_json(case: Case) -> dict[str, Any]:
    """One case in report.json; beyond the contract, `replacement_delay_seconds` (revocation to
    the replacement's issuance) and `replacement.issuer`."""
    cert, rev, diff = case.certificate, case.revocation, case.diff
    replacement, repl = None, case.replacement
    if repl is not None:
        replacement = {
            "serial": format_serial(repl.serial),
            "sha256": repl.sha256,
            "names": list(repl.names),
            "issued_at": iso(repl.issuance_time),
            "subject": text_or_none(repl.subject),
            "issuer": repl.issuer,
        }
    return {
        "issuer": cert.issuer,
        "serial": format_serial(cert.serial),
        "sha256": cert.sha256,
        "names": list(cert.names),
        "subject": text_or_none(cert.subject),
        "subscriber": text_or_none(cert.subscriber),
        "issued_at": iso(cert.issuance_time),
        "revoked_at": iso(rev.revoked_at),
        "seconds_to_revocation": case.seconds_to_revocation,
        "reason": rev.reason,
        "reason_code": rev.reason_code,
        "revoked_by": text_or_none(rev.revoked_by),
        "comment": text_or_none(rev.comment),
        "replacement": replacement,
        "replacement_reason": text_or_none(case.replacement_reason),
        "replacement_delay_seconds": replacement_delay(case),
        "candidate_count": case.candidate_count,
        # {before, after, distance, edit: [{op, before, after}]}; json writes the tuples as lists.
        "name_changes": [_change_json(change) for change in (diff.name_changes if diff else ())],
        "names_added": list(diff.added) if diff else [],
        "names_removed": list(diff.removed) if diff else [],
        "key_reused": diff.key_reused if diff else None,
        "labels": list(case.labels),
        "cause": case.cause,
        "lint": _lint_json(case.lint),
        "worst_severity": triage.case_severity(case).value,
        "findings": [
            {"code": f.code, "severity": f.severity.value, "message": f.message}
            for f in case.all_findings
        ],
    }


def _lint_json(lint: LintDiff | None) -> dict[str, Any] | None:
    # The issue-13 contract: null when not linted (no DER, or not among a mass night's FULL_CASES).
    if lint is None:
        return None
    return {
        "linter": lint.linter,
        "revoked": [{"code": f.code, "severity": f.severity} for f in lint.revoked],
        "replacement": [{"code": f.code, "severity": f.severity} for f in lint.replacement],
        "fixed": list(lint.fixed),
        "introduced": list(lint.introduced),
    }


def _change_json(change: NameChange) -> dict[str, Any]:
    # By hand: dataclasses.asdict deep-copies recursively and cost seconds on a mass night.
    return {
        "before": change.before,
        "after": change.after,
        "distance": change.distance,
        "edit": [{"op": s.op, "before": s.before, "after": s.after} for s in change.edit],
    }
