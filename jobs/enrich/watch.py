"""The issuance watch: which certificates issued in the window, and not revoked, are suspicious.

Owns the judgement of one watched certificate and the subscriber holdings it is judged against:
- `near-sibling`: a DNS name whose registrable domain the subscriber never had before this
  certificate, within edit distance 2 (`TYPO_DISTANCE`), or only look-alike characters apart
  (`rn`/`m`, `1`/`l`, Cyrillic), of a registrable domain the same subscriber holds: from another
  certificate, or from this one when held before it. Another subscriber's domains never count:
  a near-typo of a domain someone else holds is not this subscriber's typo.
- `invalid-name` and `placeholder-value`: the judgement `jobs.enrich.judge` makes of a revoked
  certificate, made of the watched one.
- `lint-error`: pkilint (`jobs.enrich.lint`) reports an error-level finding.
The holdings come from the CA database's grouped history (per subscriber, its distinct names with
when each was first issued): SQL cannot read the Public Suffix List, so the registrable domains
are computed here, once per distinct name. It must not query anything, read clocks, or choose
which certificates are watched (the pipeline passes them in).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from jobs.core import codes
from jobs.core.model import Certificate, Finding
from jobs.core.watch import Holding, SuspiciousIssuance
from jobs.core.x509 import ParseCache, ParsedCertificate
from jobs.enrich.judge import name_problems, placeholder_values
from jobs.enrich.lint import CertificateLint, Linter, LintError
from jobs.enrich.names import is_dns_name, lookalike, name_distance, registrable_domain, skeleton
from jobs.enrich.rules import TYPO_DISTANCE

# subscriber -> registrable domain -> when the subscriber first held it (None: unknown, long ago)
Holdings = dict[str, dict[str, datetime | None]]
# Messages name at most this many lint codes; the finding says how many more.
_MAX_LISTED = 6


def split_names(value: object) -> list[str]:
    """The names of a history row's `names` column (comma-separated, as the generic schema)."""
    if value is None:
        return []
    return [part.strip().lower() for part in str(value).split(",") if part.strip()]


def holdings(rows: Iterable[Holding]) -> Holdings:
    """Each subscriber's registrable domains, each with the earliest time it was held."""
    held: Holdings = {}
    for row in rows:
        domains = held.setdefault(row.subscriber, {})
        if row.domain not in domains:
            domains[row.domain] = row.since
            continue
        known = domains[row.domain]
        if known is not None and (row.since is None or row.since < known):
            domains[row.domain] = row.since
    return held


def holdings_from_names(
    rows: Iterable[Mapping[str, object]],
) -> tuple[list[Holding], int]:
    """Holdings from history rows (`subscriber`, `names`, `issued_at`: when those names were first
    issued), and how many rows named nothing (a NULL names column: those certificates' names stay
    unknown to the watch)."""
    out: list[Holding] = []
    unnamed = 0
    # A name recurs across a subscriber's lists (the bare domain beside each host): the Public
    # Suffix List look-up (about 20 us) was most of the judging's time on a 10M night.
    domains: dict[str, str | None] = {}
    for row in rows:
        subscriber = row.get("subscriber")
        names = split_names(row.get("names"))
        if subscriber is None:
            continue
        if not names:
            unnamed += 1
            continue
        since = row.get("issued_at")
        when = since if isinstance(since, datetime) else None
        for name in names:
            if name not in domains:
                domains[name] = registrable_domain(name) if is_dns_name(name) else None
            domain = domains[name]
            if domain is not None:
                out.append(Holding(str(subscriber), domain, when))
    return out, unnamed


def domains_of(certificate: Certificate) -> tuple[str | None, ...]:
    """The distinct registrable domains of a certificate's names, in order (None: no domain)."""
    found: dict[str | None, None] = {}
    for name in certificate.names:
        found[registrable_domain(name) if is_dns_name(name) else None] = None
    return tuple(found)


def _held_before(held: Mapping[str, datetime | None], domain: str, when: datetime | None) -> bool:
    if domain not in held:
        return False
    since = held[domain]
    # An unknown time on either side cannot show the domain is new: never flag on a guess.
    return since is None or when is None or since < when


def _nearest(domain: str, reference: Sequence[str]) -> tuple[str, int, bool] | None:
    """The held domain nearest to `domain` within TYPO_DISTANCE, or only look-alikes apart:
    (held domain, distance, look-alike?); None if none is that near."""
    best: tuple[int, str, bool] | None = None
    shape = skeleton(domain)
    for other in reference:
        alike = skeleton(other) == shape and lookalike(domain, other)
        if not alike and abs(len(other) - len(domain)) > TYPO_DISTANCE:
            continue
        distance = name_distance(domain, other)
        if (alike or distance <= TYPO_DISTANCE) and (best is None or distance < best[0]):
            best = (distance, other, alike)
    return None if best is None else (best[1], best[0], best[2])


def near_siblings(certificate: Certificate, held: Mapping[str, datetime | None]) -> list[Finding]:
    """`watch.name.near_sibling` for each registrable domain of the certificate that is new to
    its subscriber and near one the subscriber holds (`held`: the subscriber's holdings)."""
    when = certificate.issuance_time
    own = [d for d in domains_of(certificate) if d is not None]
    new = [d for d in own if not _held_before(held, d, when)]
    if not new:
        return []
    # What the subscriber holds: every domain of its other certificates, and this certificate's
    # own domains only where it held them before (two new domains of one request are one slip).
    reference = sorted(d for d in held if d not in own or _held_before(held, d, when))
    out = []
    for domain in new:
        near = _nearest(domain, reference)
        if near is None:
            continue
        other, distance, alike = near
        named = [n for n in certificate.names if registrable_domain(n) == domain]
        since = held.get(other)
        held_text = f"held since {since:%Y-%m-%d}" if since is not None else "held before"
        how = "look-alike characters" if alike else f"edit distance {distance}"
        text = (
            f"{', '.join(named)}: {domain} is new to subscriber {certificate.subscriber}, "
            f"{how} from {other} ({held_text})"
        )
        out.append(codes.WATCH_NEAR_SIBLING.finding(text))
    return out


def _listing(codes_found: Sequence[str]) -> str:
    more = len(codes_found) - _MAX_LISTED
    return ", ".join(codes_found[:_MAX_LISTED]) + (f" and {more} more" if more > 0 else "")


def lint_of(certificate: Certificate, linter: Linter) -> CertificateLint | LintError | None:
    """The certificate's lint, here and now; None when it has no DER pkilint can be given."""
    if not lintable(certificate):
        return None
    assert certificate.der is not None
    try:
        return linter.lint(certificate.der)
    except LintError as exc:
        return exc


def error_codes(lint: CertificateLint | LintError) -> tuple[str, ...]:
    """pkilint's error-level codes of a lint, in its order (none when it failed)."""
    if isinstance(lint, LintError):
        return ()
    return tuple(f.code for f in lint.findings if f.severity == "error")


def findings_of_lint(lint: CertificateLint | LintError, linter_name: str) -> list[Finding]:
    """The watch's findings of one certificate's lint, however it was made:
    here (`judge` with a linter), or by `jobs.enrich.lint.lint_all`'s workers."""
    if isinstance(lint, LintError):
        return [codes.WATCH_LINT_FAILED.finding(f"pkilint could not lint it ({lint})")]
    out = []
    errors = [f.code for f in lint.findings if f.severity == "error"]
    if errors:
        text = f"{linter_name} ({lint.kind}) reports {_listing(errors)}"
        out.append(codes.WATCH_LINT_ERROR.finding(text))
    crashed = [f.code for f in lint.findings if f.severity == "fatal"]
    if crashed:
        text = f"a pkilint validator crashed on it ({_listing(crashed)}); its lint is incomplete"
        out.append(codes.WATCH_LINT_FAILED.finding(text))
    return out


def lintable(certificate: Certificate) -> bool:
    """Whether pkilint can be given the certificate: its DER is there and parsed."""
    return certificate.der is not None and certificate.der_error is None


def value_findings(certificate: Certificate, parsed: ParsedCertificate | None) -> list[Finding]:
    """`watch.name.invalid` and `watch.subject.placeholder`, as `jobs.enrich.judge` finds them."""
    out = [
        codes.WATCH_NAME_INVALID.finding(f"{name} is not a valid {kind}: {problem}")
        for name, kind, problem in name_problems(certificate, parsed)
    ]
    out += [
        codes.WATCH_SUBJECT_PLACEHOLDER.finding(
            f"subject {key} is {value!r}, a placeholder ({source})"
        )
        for key, value, source in placeholder_values(certificate, parsed)
    ]
    return out


def judge(
    certificate: Certificate,
    held: Mapping[str, datetime | None],
    *,
    parsed: ParsedCertificate | None = None,
    linter: Linter | None = None,
) -> SuspiciousIssuance | None:
    """The watched certificate as a suspicious issuance, or None when nothing flags it.

    `held`: its subscriber's holdings (empty without a subscriber); `linter`: None skips pkilint
    (the pipeline lints apart, over its workers, and adds the lint with `with_lint`)."""
    findings = near_siblings(certificate, held) if certificate.subscriber is not None else []
    findings += value_findings(certificate, parsed)
    judged = _flagged(certificate, findings)
    lint = lint_of(certificate, linter) if linter is not None else None
    if linter is None or lint is None:
        return judged
    return with_lint(certificate, judged, lint, linter.name)


def _flagged(
    certificate: Certificate, findings: Sequence[Finding], lint_codes: tuple[str, ...] = ()
) -> SuspiciousIssuance | None:
    labels = tuple(
        dict.fromkeys(
            code.label.name
            for code in (codes.CODES[f.code] for f in findings)
            if code.label is not None
        )
    )
    if not labels:
        return None
    found = tuple(findings)
    return SuspiciousIssuance(certificate, labels, found, domains_of(certificate), lint_codes)


def with_lint(
    certificate: Certificate,
    judged: SuspiciousIssuance | None,
    lint: CertificateLint | LintError,
    linter_name: str,
) -> SuspiciousIssuance | None:
    """The certificate judged by the names rules (`judged`, None when they flagged nothing) with
    its lint added: the same issuance `judge` makes with a linter, findings in the same order."""
    found = findings_of_lint(lint, linter_name)
    if not found:
        return judged
    before = judged.findings if judged is not None else ()
    return _flagged(certificate, [*before, *found], error_codes(lint))


def judge_all(
    certificates: Sequence[Certificate],
    held: Holdings,
    *,
    cache: ParseCache | None = None,
    linter: Linter | None = None,
) -> list[SuspiciousIssuance | None]:
    """Each of `certificates` judged against its own subscriber's holdings, in order: the
    suspicious issuance, or None when nothing flags it."""
    cache = cache if cache is not None else ParseCache(limit=1)
    out = []
    for certificate in certificates:
        parsed = None
        if lintable(certificate):
            assert certificate.der is not None
            found = cache.get(certificate.der)
            parsed = found if isinstance(found, ParsedCertificate) else None
        subscriber = certificate.subscriber
        mine = held.get(subscriber, {}) if subscriber is not None else {}
        out.append(judge(certificate, mine, parsed=parsed, linter=linter))
    return out


def watch(
    certificates: Sequence[Certificate],
    held: Holdings,
    *,
    cache: ParseCache | None = None,
    linter: Linter | None = None,
) -> list[SuspiciousIssuance]:
    """The suspicious ones among `certificates` (issued in the window, not revoked), each judged
    against its own subscriber's holdings."""
    judged = judge_all(certificates, held, cache=cache, linter=linter)
    return [issuance for issuance in judged if issuance is not None]


def issuance_order(issuance: SuspiciousIssuance) -> tuple[bool, int, str, str, str]:
    """The report's order: near-siblings first (the founding incident's pattern), then more
    labels first, then issuance time, issuer and serial so that the order is stable."""
    cert = issuance.certificate
    when = cert.issuance_time
    return (
        codes.LABEL_NEAR_SIBLING.name not in issuance.labels,
        -len(issuance.labels),
        when.isoformat() if when is not None else "~",
        cert.issuer,
        cert.serial,
    )
