"""The scale benchmark's child-process figures: P4 (a mass-revocation night end to end, mailed),
P5 (the backfill of all history) and P6 (a night with nothing to do, and `--help`). P4 and P5 are
also ratios to a floor measured in the same run: P4's is `bench.figures.floor` (the night's rows
with DER fetched and each certificate parsed once), P5's the bare join of all history.

Owns running the real command (`python -m jobs ...`) as a child with a clean environment and a home
of its own, and measuring it from outside: wall time, and the child's own peak RSS from `os.wait4`
in a small launcher process (see `_LAUNCHER`). P4 mails a `jobs.demo.mailsink.MailSink` on loopback
whose handler only keeps the raw bytes, so the sink adds no parsing to the child's time; the message
is examined afterwards. `--cprofile` runs P4 once more under cProfile and summarises where the time
went. P6's children may write their bytecode (to a cache of the benchmark's own, filled by a
warm-up run), as a deployed job's installation has it, whatever PYTHONDONTWRITEBYTECODE says. It
must not build databases.
"""

from __future__ import annotations

import csv
import email
import email.policy
import gzip
import io
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.databases import BASE, MASS_DAY, Built
from bench.figures import Row, bare, floor
from jobs.demo.mailsink import MailSink, SinkHandler

REPO = Path(__file__).resolve().parent.parent
BACKFILL_UNTIL = datetime(2026, 11, 1, tzinfo=UTC)  # all bulk history, not the mass event
EMPTY_NIGHT = (datetime(2022, 6, 1, tzinfo=UTC), datetime(2022, 6, 2, tzinfo=UTC))
MB = 1_000_000
P4_TARGET = "30 s, 3x floor, 1 GB, 10 MB"
P5_TARGET = "120 s, 4x bare join, 1 GB"
P6_TARGET = "0.8 s; --help 0.3 s"
# (file, function) of the stages whose cumulative time the P4 profile reports, in run order.
STAGES = (
    ("jobs/pipeline/steps.py", "pending_window"),
    ("jobs/detect/detection.py", "group"),
    ("jobs/state/ledger.py", "reported"),
    ("jobs/pipeline/steps.py", "enriched_batches"),
    ("jobs/pipeline/steps.py", "candidates_for"),
    ("jobs/enrich/enrichment.py", "enrich"),
    ("jobs/report/collector.py", "finish"),
    ("jobs/pipeline/watch.py", "run_watch"),
    ("jobs/enrich/lint.py", "lint_all"),
    ("jobs/report/document.py", "render"),
    ("jobs/deliver/message.py", "build_message"),
    ("jobs/state/ledger.py", "stage"),
    ("jobs/deliver/outbox.py", "store"),
    ("jobs/deliver/smtp.py", "send"),
    ("jobs/state/ledger.py", "settle"),
)


@dataclass(frozen=True)
class Child:
    """A finished child: wall seconds, its own peak RSS in bytes, exit code, output, and the
    peak PSS in bytes of it and its descendants together (`tree`)."""

    seconds: float
    rss: int
    returncode: int
    stdout: str
    stderr_tail: str
    stderr_found: int | None  # `found=N` of the run's summary line, if it logged one
    tree: int = 0
    phases: tuple[str, ...] = ()  # the run's phase timings (its --verbose lines), in order

    @property
    def memory(self) -> int:
        """The figure held against a memory budget: the larger of the two peaks."""
        return max(self.rss, self.tree)


# The measured command runs under this small launcher, which waits for it with wait4 and writes
# "exit-code maxrss-KiB seconds tree-peak-PSS-KiB" to the file named first. Linux starts a
# process's peak RSS at the RSS of the process it was forked from, so measuring straight from this
# benchmark (hundreds of MB after P3's pandas frames) would report the benchmark's size, not the
# job's. wait4's maxrss is the largest single process; a backfill's or a lint pool's workers are
# other processes, so the launcher also samples, every 0.1 s, the proportional set size (PSS:
# shared pages split between their sharers, so forked workers are not counted twice) summed over
# the child and all its descendants, and keeps the peak.
_LAUNCHER = """
import os, subprocess, sys, threading, time

def tree_pss(root):
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    family, grew = {root}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in family and pid not in family:
                family.add(pid)
                grew = True
    total = 0
    for pid in family:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total

started = time.monotonic()
child = subprocess.Popen(sys.argv[2:])
peak, done = [0], threading.Event()

def sample():
    while not done.wait(0.1):
        peak[0] = max(peak[0], tree_pss(child.pid))

sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
_, status, usage = os.wait4(child.pid, 0)
seconds = time.monotonic() - started
done.set()
sampler.join()
with open(sys.argv[1], "w") as report:
    report.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {seconds} {peak[0]}")
"""


def run_child(argv: list[str], home: Path, pycache: Path | None = None, **env: str) -> Child:
    """Run `argv` from the repository root with HOME=`home`, no REVWATCH_* but `env`; with
    `pycache`, the child reads and writes its bytecode there (PYTHONPYCACHEPREFIX)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REVWATCH_")}
    environment |= {"HOME": str(home), **env}
    if pycache is not None:
        environment.pop("PYTHONDONTWRITEBYTECODE", None)
        environment["PYTHONPYCACHEPREFIX"] = str(pycache)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        measured = home / "child-usage.txt"
        measured.unlink(missing_ok=True)
        launcher = [sys.executable, "-c", _LAUNCHER, str(measured)]
        subprocess.run([*launcher, *argv], stdout=out, stderr=err, env=environment, cwd=REPO)
        code, rss_kib, seconds, tree_kib = measured.read_text().split()
        out.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        found: int | None = None
        tail: list[str] = []
        phases: list[str] = []
        err.seek(0)
        for raw in err:  # a long backfill logs a great deal: keep only the end
            line = raw.decode("utf-8", "replace").rstrip("\n")
            match = re.search(r"\bfound=(\d+)", line)
            found = int(match.group(1)) if match else found
            tail = [*tail[-20:], line]
            phase = PHASE.search(line)
            if phase:
                phases.append(phase.group(0))
    return Child(
        float(seconds), int(rss_kib) * 1024, int(code), stdout, "\n".join(tail), found,
        int(tree_kib) * 1024, tuple(phases),
    )  # fmt: skip


# The nightly run's phase timings, logged with --verbose (jobs.pipeline.nightly and .watch): the
# profile of a night at no cost, unlike cProfile, which slows the Python code it measures.
PHASE = re.compile(r"(cases: \d+ found.*|issuance watch \[.*|report rendered in .*)$")


def _job(*args: str) -> list[str]:
    return [sys.executable, "-m", "jobs", *args]


class _RawSink(SinkHandler):
    """Keeps each message's bytes as received; parsing waits until the child has finished."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[bytes] = []

    def keep(self, raw: bytes, mail_from: str, rcpt_tos: tuple[str, ...]) -> None:
        self.raw.append(raw)


def _examine(raw: bytes) -> tuple[int, str]:
    """Rows of the message's CSV attachment (gunzipped if need be), and each part's encoded size:
    what makes the message as large as it is."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    parts = []
    for part in message.walk():
        if not part.is_multipart():
            encoded = str(part.get_payload())
            name = part.get_filename()
            parts.append(f"{name or part.get_content_type()} {len(encoded) / MB:.2f} MB")
    rows = -1
    for part in message.iter_attachments():
        name = part.get_filename() or ""
        if isinstance(part, email.message.EmailMessage) and ".csv" in name:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            data = gzip.decompress(payload) if name.endswith(".gz") else payload
            table = list(csv.reader(io.StringIO(data.decode("utf-8"))))
            rows = len(table) - 1
            parts.append(f"(the CSV gzipped without its SHA-256 columns: {_without_hashes(table)})")
    return rows, "; ".join(parts)


def _without_hashes(table: list[list[str]]) -> str:
    """What-if for the report's authors: random hex compresses to half its length at best, so the
    two SHA-256 columns dominate a large gzipped CSV."""
    keep = [i for i, column in enumerate(table[0]) if "sha256" not in column]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([row[i] for i in keep] for row in table)
    size = len(gzip.compress(buffer.getvalue().encode("utf-8"), mtime=0))
    return f"{size / MB:.2f} MB, {size * 4 / 3 * 78 / 76 / MB:.2f} MB base64"


def _mass_night(built: Built, scratch: Path, prefix: list[str]) -> tuple[Child, list[bytes]]:
    handler = _RawSink()
    with MailSink(handler=handler) as sink:
        child = run_child(
            [*prefix, "run", "--verbose",
             "--ca-db", built.url.render_as_string(hide_password=False),
             "--state-db", f"sqlite:///{scratch / 'ledger.sqlite'}",
             "--since", MASS_DAY.isoformat(),
             "--until", (MASS_DAY + timedelta(days=1)).isoformat()],
            scratch,
            REVWATCH_SMTP_HOST=sink.host, REVWATCH_SMTP_PORT=str(sink.port),
            REVWATCH_SMTP_SECURITY="none", REVWATCH_MAIL_FROM="revwatch@bench.example",
            REVWATCH_MAIL_TO="compliance@bench.example",
        )  # fmt: skip
    return child, handler.raw


def _memory(child: Child) -> str:
    return (
        f"memory: the job's own peak RSS {child.rss / MB:,.0f} MB, the peak PSS of it and its "
        f"worker processes together {child.tree / MB:,.0f} MB (the larger is the figure)"
    )


def p4(built: Built, scratch: Path) -> Row:
    """A mass-revocation night, the real job in a child, mailed to a loopback sink; and, after
    it (warm), its floor: the night's rows fetched with DER and each certificate parsed once."""
    cases = built.spec.mass
    child, messages = _mass_night(built, scratch, _job())
    floor_s, floor_rows = floor(built, MASS_DAY, MASS_DAY + timedelta(days=1))
    ratio = child.seconds / floor_s
    size = len(messages[0]) if messages else 0
    rows, parts = _examine(messages[0]) if messages else (-1, "(no message)")
    problems = []
    if child.returncode != 0:
        problems.append(f"exit {child.returncode}: {child.stderr_tail[-300:]}")
    if len(messages) != 1 or rows != cases or child.stderr_found != cases:
        problems.append(
            f"{len(messages)} message(s), {rows} CSV rows, found={child.stderr_found}; "
            f"expected 1 message of {cases} cases"
        )
    if floor_rows != cases:
        problems.append(f"the floor fetched {floor_rows} rows, expected {cases}")
    return Row(
        "P4",
        f"{cases:,}-case night end to end (child, mailed)",
        f"{child.seconds:.1f} s = {ratio:.1f}x floor, {child.memory / MB:,.0f} MB, "
        f"{size / MB:.2f} MB message",
        P4_TARGET,
        child.seconds <= 30 and ratio <= 3 and child.memory <= 1000 * MB and size <= 10 * MB,
        f"floor (the night's {floor_rows:,} rows with DER fetched, each certificate parsed "
        f"once): {floor_s:.2f} s; {cases / child.seconds:,.0f} cases/s; {_memory(child)}; "
        "message parts "
        f"(encoded): {parts}; phases (the run's -v lines): {'; '.join(child.phases) or 'none'}",
        "; ".join(problems) or None,
        {
            "cases": cases, "seconds": child.seconds, "rss_mb": child.memory / MB,
            "own_rss_mb": child.rss / MB, "tree_pss_mb": child.tree / MB,
            "floor_seconds": floor_s, "ratio": ratio, "message_mb": size / MB,
            "phases": list(child.phases),
        },
    )  # fmt: skip


def p4_profile(built: Built, scratch: Path) -> str:
    """P4 once more under cProfile: the stages' cumulative time and the top functions."""
    target = scratch / "p4.prof"
    child, _ = _mass_night(built, scratch, [sys.executable, "-m", "cProfile", "-o", str(target),
                                            "-m", "jobs"])  # fmt: skip
    if child.returncode != 0 or not target.is_file():
        return f"P4 profile: the profiled run failed (exit {child.returncode})"
    stats = pstats.Stats(str(target))
    table = stats.stats  # type: ignore[attr-defined]
    lines = [f"P4 under cProfile: {child.seconds:.1f} s wall (profiling slows Python code)"]
    lines.append("  stage (cumulative s):")
    for path, function in STAGES:
        seconds = sum(v[3] for k, v in table.items() if k[0].endswith(path) and k[2] == function)
        if seconds:
            lines.append(f"    {path + ':' + function:<36} {seconds:8.2f}")
    lines.append("  top 12 by own time (calls, own s, cumulative s, function):")
    ranked = sorted(table.items(), key=lambda item: -item[1][2])[:12]
    for (path, line, function), (_, calls, own, cumulative, _) in ranked:
        where = path.replace(str(REPO) + "/", "").split("site-packages/")[-1]
        lines.append(f"    {calls:>9,} {own:8.2f} {cumulative:8.2f}  {where}:{line}({function})")
    return "\n".join(lines)


def p5(built: Built, scratch: Path) -> Row:
    """The backfill of all bulk history in a child: wall time, peak RSS, and its evidence."""
    child = run_child(
        _job("backfill", "--ca-db", built.url.render_as_string(hide_password=False),
             "--since", BASE.isoformat(), "--until", BACKFILL_UNTIL.isoformat(),
             "--out", str(scratch / "backfill")),
        scratch,
    )  # fmt: skip
    # Its outcome is its summary line on stderr (`revwatch.backfill`), the last one it logs.
    match = re.search(r"backfill complete .*\bchunks=(\d+) .*\bcases=(\d+)", child.stderr_tail)
    chunks, cases = (int(match.group(1)), int(match.group(2))) if match else (0, -1)
    bare_s, bare_rows = bare(built, BASE, BACKFILL_UNTIL, repeats=1, warm=False)
    ratio = child.seconds / bare_s
    problem = None
    if child.returncode != 0 or cases != bare_rows:
        problem = f"exit {child.returncode}, {cases} cases vs {bare_rows} rows of the bare join"
    return Row(
        "P5",
        f"backfill of all history, {built.spec.variant}, {built.spec.certificates:,} certificates",
        f"{child.seconds:.1f} s = {ratio:.1f}x bare join, {child.memory / MB:,.0f} MB",
        P5_TARGET,
        child.seconds <= 120 and ratio <= 4 and child.memory <= 1000 * MB,
        f"{cases:,} cases in {chunks} chunks, {cases / child.seconds:,.0f} cases/s; the bare join "
        f"over all history (its floor): {bare_s:.2f} s; {_memory(child)}",
        problem,
        {
            "cases": cases, "seconds": child.seconds, "rss_mb": child.memory / MB,
            "own_rss_mb": child.rss / MB, "tree_pss_mb": child.tree / MB,
            "floor_seconds": bare_s, "ratio": ratio, "chunks": chunks,
        },
    )  # fmt: skip


def p6(built: Built, scratch: Path) -> Row:
    """A night with nothing to do: `revwatch run --no-mail` on an empty window, and `revwatch
    --help`, wall times in children (medians of 3, after a warm-up run that writes bytecode)."""
    pycache = scratch / "pycache"
    argv = _job(
        "run", "--no-mail", "--ca-db", built.url.render_as_string(hide_password=False),
        "--state-db", f"sqlite:///{scratch / 'absent-ledger.sqlite'}",
        "--since", EMPTY_NIGHT[0].isoformat(), "--until", EMPTY_NIGHT[1].isoformat(),
    )  # fmt: skip
    runs = [run_child(argv, scratch, pycache) for _ in range(4)][1:]  # the first: warm-up
    seconds = statistics.median(c.seconds for c in runs)
    helps = [run_child(_job("--help"), scratch, pycache) for _ in range(4)][1:]
    help_seconds = statistics.median(c.seconds for c in helps)

    def median_of(code: str) -> float:
        return statistics.median(
            run_child([sys.executable, "-c", code], scratch, pycache).seconds for _ in range(3)
        )

    bare_python = median_of("pass")
    imports = median_of("import jobs.face.cli, jobs.pipeline.nightly")
    bad = [c for c in runs if c.returncode != 0 or c.stderr_found != 0]
    bad += [c for c in helps if c.returncode != 0 or "usage:" not in c.stdout]
    return Row(
        "P6",
        "a night with nothing to do (child, --no-mail, empty window); --help",
        f"{seconds:.2f} s; --help {help_seconds:.2f} s",
        P6_TARGET,
        seconds <= 0.8 and help_seconds <= 0.3,
        f"of which: interpreter start {bare_python:.2f} s, importing jobs.face.cli + pipeline "
        f"{imports:.2f} s (both in a child)",
        f"exit {bad[0].returncode}, found={bad[0].stderr_found}: {bad[0].stderr_tail[-300:]}"
        if bad
        else None,
        {
            "seconds": seconds, "help_seconds": help_seconds, "python_seconds": bare_python,
            "import_seconds": imports,
        },
    )  # fmt: skip
