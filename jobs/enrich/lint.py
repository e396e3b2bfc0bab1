"""The lint diff of a case: pkilint on the revoked certificate and on its replacement.

Owns how one certificate is linted and how two lints compare. The linter is DigiCert's pkilint:
its CA/B Forum TLS server-certificate linter, with the certificate type pkilint detects (from the
reserved policy OIDs, EKUs and basic constraints; DV when none says otherwise) and its finding
filters, as `lint_cabf_serverauth_cert lint -d` runs it; or its S/MIME linter when the
certificate's profile says S/MIME (an S/MIME reserved policy OID, or emailProtection without
serverAuth), with the validation level and generation pkilint detects or guesses. Findings of
every severity down to INFO are kept, as pkilint's command line reports them.

`Linter` builds pkilint's validators once per certificate type, on first use (about 0.15 s each;
`shared_linter()` keeps one per process), and imports pkilint only then: a night without cases
never pays for it. pkilint parses its own input from the DER bytes. A certificate it cannot
load or lint, or on which one of its validators crashed (a FATAL finding), is reported by
`lint_diff` as an `enrich.lint_failed` finding, never raised. `lint_all` lints many
certificates over a pool of worker processes started from a fork server (the issuance watch's
thousands), each worker with its own `shared_linter()`, the results identical to a serial lint and
in the same order. It must not choose which certificates or cases are linted (the caller does: a
mass night lints only the cases shown in full, the watch at most `watch_lint_limit`), do I/O, or
parse DER with cryptography (that is `jobs.core.x509`).
"""

from __future__ import annotations

import atexit
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any

from jobs.core import codes
from jobs.core.model import Certificate, Finding, LintDiff, LintFinding

_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
_EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
_SMIME_POLICY_ARC = "2.23.140.1.5."
# pkilint's severities that mean the certificate breaks a standard ("MUST"): what "fixed" counts.
ERROR_SEVERITIES = frozenset({"fatal", "error"})
# Messages name at most this many lint codes; report.json carries all of them.
_MAX_LISTED = 6
# Fewer certificates than this are linted in the process itself: a pool's start (the fork
# server's interpreter and pkilint's import, then each worker's validators: about 0.2 s each)
# costs more than it saves below it.
POOL_FROM = 200
# Certificates per task sent to a worker: the pipe's round trip is paid once per chunk.
_CHUNK = 64


class LintError(Exception):
    """pkilint could not load or lint a certificate."""


@dataclass(frozen=True)
class CertificateLint:
    """One certificate's lint: the linter and type it was linted as (`cabf-serverauth
    dv-final-certificate`) and its findings, each (code, severity) once, in pkilint's order."""

    kind: str
    findings: tuple[LintFinding, ...]


class Linter:
    """pkilint's validators, built once per certificate type and reused for every certificate."""

    def __init__(self) -> None:
        self._validators: dict[tuple[Any, ...], tuple[Any, list[Any]]] = {}
        self.linted = 0  # certificates linted (for tests and the bench)

    @property
    def name(self) -> str:
        return _linter_name()

    def lint(self, der: bytes) -> CertificateLint:
        """The lint of one certificate; LintError when pkilint cannot load or lint it."""
        try:
            return self._lint(der)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            # pyasn1, pkilint's navigation, a certificate type it refuses: all one thing here.
            detail = " ".join(str(exc).split())[:160] or type(exc).__name__
            raise LintError(f"{type(exc).__name__}: {detail}") from exc

    def _lint(self, der: bytes) -> CertificateLint:
        from pkilint import finding_filter, loader

        self.linted += 1
        document = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "certificate")
        key, kind = _certificate_type(document)
        validator, filters = self._validator(key)
        results = validator.validate(document.root)
        if filters:
            results, _ = finding_filter.filter_results(filters, results)
        seen: dict[tuple[str, str], None] = {}
        for result in results:
            for described in result.finding_descriptions:
                severity = described.finding.severity
                if severity.name != "DEBUG":
                    seen[(described.finding.code, severity.name.lower())] = None
        return CertificateLint(kind, tuple(LintFinding(c, s) for c, s in seen))

    def _validator(self, key: tuple[Any, ...]) -> tuple[Any, list[Any]]:
        found = self._validators.get(key)
        if found is None:
            found = self._validators[key] = _build(key)
        return found


def _certificate_type(document: Any) -> tuple[tuple[Any, ...], str]:
    """(validator key, the type in words) of a loaded certificate, as pkilint detects it."""
    from pkilint.cabf import serverauth, smime

    ekus = {str(oid) for oid in document.extended_key_usages}
    policies = {str(oid) for oid in document.policy_oids}
    is_smime = any(p.startswith(_SMIME_POLICY_ARC) for p in policies) or (
        _EMAIL_PROTECTION in ekus and _SERVER_AUTH not in ekus
    )
    if is_smime:
        level, generation = smime.guess_validation_level_and_generation(document)
        return ("smime", level, generation), f"cabf-smime {level}-{generation}".lower()
    certificate_type = serverauth.determine_certificate_type(document)
    return ("serverauth", certificate_type), (
        f"cabf-serverauth {certificate_type.to_option_str}".lower()
    )


def _build(key: tuple[Any, ...]) -> tuple[Any, list[Any]]:
    from pkilint.cabf import serverauth, smime
    from pkilint.pkix import certificate

    if key[0] == "smime":
        validator = certificate.create_pkix_certificate_validator_container(
            smime.create_decoding_validators(), smime.create_subscriber_validators(*key[1:])
        )
        return validator, []
    certificate_type = key[1]
    validator = certificate.create_pkix_certificate_validator_container(
        serverauth.create_decoding_validators(), serverauth.create_validators(certificate_type)
    )
    return validator, serverauth.create_serverauth_finding_filters(certificate_type)


@cache
def _linter_name() -> str:
    # Read once a process: the watch names the linter in every lint finding, and reading the
    # package's metadata from disk each time cost a file read per linted certificate.
    return f"pkilint {metadata.version('pkilint')}"


@cache
def shared_linter() -> Linter:
    """The process's linter: every run (and every backfill chunk) reuses its validators."""
    return Linter()


Lint = CertificateLint | LintError


def _lint_chunk(ders: Sequence[bytes], linter: Linter | None = None) -> list[Lint]:
    # In a worker: the process's own linter, its validators built once per certificate type.
    linter = linter if linter is not None else shared_linter()
    out: list[Lint] = []
    for der in ders:
        try:
            out.append(linter.lint(der))
        except LintError as exc:
            out.append(LintError(*exc.args))  # without its cause: pyasn1's objects stay here
    return out


# The process's lint pools, by (start method, workers): started on first use and kept until the
# process ends, so a daemon's nights, or a test session's, pay a worker's start and its
# validators' build once, not once a night (the fork server's interpreter and pkilint's import,
# then the validators: seconds).
_POOLS: dict[tuple[str, int], ProcessPoolExecutor] = {}
# Workers always come from a fork server, never from a fork of the job (`lint_all` says why).
START_METHOD = "forkserver"
# What the fork server imports once, before it forks any worker: this module (a task names
# `_lint_chunk`) and the pkilint modules `Linter` imports, so a worker starts with them shared.
_PRELOAD = [
    __name__, "pkilint.loader", "pkilint.finding_filter", "pkilint.cabf.serverauth",
    "pkilint.cabf.smime", "pkilint.pkix.certificate",
]  # fmt: skip


def _pool(method: str, workers: int) -> ProcessPoolExecutor:
    key = (method, workers)
    pool = _POOLS.get(key)
    if pool is None:
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            # The process has one fork server: a preload set once it runs (by the backfill's
            # pool, say) changes nothing, and a worker then imports what it lacks itself.
            context.set_forkserver_preload(_PRELOAD)
        pool = _POOLS[key] = ProcessPoolExecutor(workers, mp_context=context)
    return pool


def _drop_pool(method: str, workers: int) -> None:
    pool = _POOLS.pop((method, workers), None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


@atexit.register
def _shutdown_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=True, cancel_futures=True)
    _POOLS.clear()


def lint_all(ders: Sequence[bytes], linter: Linter, workers: int = 1) -> list[Lint]:
    """Each certificate's lint (or the LintError saying why it has none), in order: over
    `workers` processes when there are POOL_FROM or more, else in this process with `linter`.

    The workers come from a fork server (a small interpreter that has imported pkilint), never
    from a fork of this process: the watch lints after the night's cases, when the job may hold
    a gigabyte, and a forked worker's allocations land in the job's freed memory and its garbage
    collector walks the job's objects, each page touched then copied. Measured (PSS, private
    pages per worker): a fork of a 10,000-case night's job, 69 MB; of a 0.9 GB job, 660 MB
    (380 to 540 MB with `gc.freeze()` before the fork); from the fork server, 40 to 60 MB
    whatever the job's size, plus the server's 30 MB; lint times alike. A fork server also
    keeps a daemon safe: its scheduler thread is not copied into a lock held mid-fork.
    The pool is the process's (`_pool`), reused by later calls. A pool that cannot start or
    breaks (a worker killed) is dropped and the certificates are linted here: the result is the
    same, only slower."""
    if workers > 1 and len(ders) >= POOL_FROM:
        chunks = [ders[i : i + _CHUNK] for i in range(0, len(ders), _CHUNK)]
        try:
            pool = _pool(START_METHOD, workers)
            found = [lint for part in pool.map(_lint_chunk, chunks) for lint in part]
            linter.linted += len(ders)
            return found
        except (BrokenProcessPool, OSError, ValueError, RuntimeError):
            # RuntimeError: a pool shut down (at exit) or that cannot start new workers.
            _drop_pool(START_METHOD, workers)
    return _lint_chunk(ders, linter)


def _lint_one(
    linter: Linter, cert: Certificate, role: str
) -> tuple[CertificateLint | None, list[Finding]]:
    """(lint or None, the findings saying it failed) of one certificate with DER."""
    assert cert.der is not None
    what = f"{role} {cert.issuer} serial {cert.serial}"
    try:
        found = linter.lint(cert.der)
    except LintError as exc:
        failure = f"pkilint could not lint the {what} ({exc}); its lint is left out"
        return None, [codes.ENRICH_LINT_FAILED.finding(failure)]
    crashed = [f.code for f in found.findings if f.severity == "fatal"]
    if crashed:
        failure = (
            f"a pkilint validator crashed on the {what} ({', '.join(crashed)}); "
            "its lint is incomplete, so nothing counts as fixed or introduced"
        )
        return found, [codes.ENRICH_LINT_FAILED.finding(failure)]
    return found, []


def _listing(findings: Sequence[LintFinding]) -> str:
    shown = [f"{f.code} ({f.severity})" for f in findings[:_MAX_LISTED]]
    more = len(findings) - _MAX_LISTED
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def lint_diff(
    revoked: Certificate, replacement: Certificate | None, linter: Linter
) -> tuple[LintDiff | None, list[Finding], list[Finding]]:
    """(lint diff, its diff findings, its case findings) of a revoked certificate and its
    replacement. None without the revoked certificate's DER; a replacement without DER (or
    none) lints as empty, and nothing then counts as fixed or introduced.

    Diff findings: `diff.lint.fixed` naming the error-level codes the replacement no longer has,
    `diff.lint.introduced` naming those it brings. Case findings: `enrich.lint_failed`."""
    if revoked.der is None or revoked.der_error is not None:
        return None, [], []
    before, failures = _lint_one(linter, revoked, "revoked certificate")
    after: CertificateLint | None = None
    usable = replacement is not None and replacement.der and replacement.der_error is None
    if replacement is not None and usable:
        after, more = _lint_one(linter, replacement, "replacement")
        failures += more
    kinds = [lint.kind for lint in (before, after) if lint is not None]
    linter_name = linter.name + (f" {' -> '.join(dict.fromkeys(kinds))}" if kinds else "")
    old = before.findings if before else ()
    new = after.findings if after else ()
    fixed: tuple[str, ...] = ()
    introduced: tuple[str, ...] = ()
    if before is not None and after is not None and not failures:
        old_codes, new_codes = {f.code for f in old}, {f.code for f in new}
        fixed = tuple(sorted(old_codes - new_codes))
        introduced = tuple(sorted(new_codes - old_codes))
    diff = LintDiff(linter_name, old, new, fixed, introduced)
    return diff, _diff_findings(diff), failures


def _diff_findings(diff: LintDiff) -> list[Finding]:
    out: list[Finding] = []
    fixed = [f for f in diff.revoked if f.code in diff.fixed and f.severity in ERROR_SEVERITIES]
    if fixed:
        text = (
            f"the replacement fixes {_listing(fixed)}, which {diff.linter} reports on the "
            "revoked certificate"
        )
        out.append(codes.DIFF_LINT_FIXED.finding(text))
    introduced = [
        f for f in diff.replacement if f.code in diff.introduced and f.severity in ERROR_SEVERITIES
    ]
    if introduced:
        text = (
            f"the replacement brings {_listing(introduced)}, which the revoked certificate has not"
        )
        out.append(codes.DIFF_LINT_INTRODUCED.finding(text))
    return out
