"""The diff rules: small functions, each turning one aspect of a comparison into findings.

Owns the comparison rules `RULES` (names, subject, key, validity, profile, issuer), the types every
rule shares (`Comparison`, `DiffFinding`) and the wording of each finding; the codes and their
severities are declared in `jobs.core.codes`, and every finding is made from one of them. A rule
reads a `Comparison` (the two certificates, their parsed DER when it parses, and the name diff
already made) and returns findings; `jobs.enrich.diff` runs these and those of `jobs.enrich.judge`
(the revoked certificate's own values) and turns a rule that raises into a `diff.rule_failed`
finding. Adding a rule is one function plus one entry in its module's `RULES`. It must not choose
the replacement, do I/O or parse DER itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from jobs.core import codes
from jobs.core.codes import Code
from jobs.core.model import CertDiff, Certificate, Finding, NameChange
from jobs.core.times import format_duration
from jobs.core.x509 import EKU_NAMES, POLICY_NAMES, ParsedCertificate, dn_attributes
from jobs.enrich import names, values
from jobs.enrich.alignment import alignment, edit_distance, render_edit

# A removed name paired with an added one within this distance is probably a typo being fixed.
TYPO_DISTANCE = 2

# Messages list at most this many names; the diff itself carries all of them.
_MAX_LISTED = 10


@dataclass(frozen=True)
class DiffFinding(Finding):
    """A finding that carries its evidence: the edit (`change`) and the field it is in.

    `field` is `name` for a SAN, a subject attribute's short name (`O`, `CN`), or for
    `diff.subject.changed` the changed attributes, comma-separated (empty: the DN could not be
    read). Reports render `change` with the edit highlighted; report.json keeps code, severity
    and message.
    """

    change: NameChange | None = None
    field: str = ""

    @classmethod
    def of(
        cls, code: Code, message: str, change: NameChange | None = None, field: str = ""
    ) -> DiffFinding:
        """A finding of `code` with its evidence; the severity is the one the registry declares."""
        return cls(code.code, code.severity, message, change=change, field=field)


@dataclass(frozen=True)
class Comparison:
    """What every rule reads. `before`/`after` are the parsed DER (None without DER or when it
    does not parse; `after_error` then says why for the replacement)."""

    revoked: Certificate
    replacement: Certificate
    diff: CertDiff
    before: ParsedCertificate | None = None
    after: ParsedCertificate | None = None
    after_error: str | None = None

    @cached_property
    def subject_changes(self) -> list[tuple[str, str | None, str | None]] | None:
        """`subject_changes(self)`, worked out once: three rules read it."""
        return _subject_changes(self)


Rule = Callable[[Comparison], list[Finding]]


def label(cert: Certificate) -> str:
    """How a finding names a certificate: its issuer and serial."""
    return f"{cert.issuer} serial {cert.serial}"


def listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def close_changes(diff: CertDiff) -> tuple[NameChange, ...]:
    """The name changes within typo distance (0 cannot happen: those names were kept)."""
    return tuple(c for c in diff.name_changes if c.distance <= TYPO_DISTANCE)


def partnered(diff: CertDiff) -> tuple[NameChange, ...]:
    """The name changes that explain their pair: within typo distance, or one name a cut or
    padded form of the other (`-api.example.de` -> `shop-api.example.de`, `values.relation`).
    Their names are not "added" or "removed without a close partner"."""
    return tuple(
        c
        for c in diff.name_changes
        if c.distance <= TYPO_DISTANCE or values.relation(c.before, c.after, dns=True)
    )


def is_registrable_domain_typo(change: NameChange) -> bool:
    """A close change between DNS names whose registrable domains differ (`cuatis.net`).

    Both names must have one: `.portal.example.ch` or a bare public suffix has none, and the
    change is then no evidence of a domain the subscriber may not hold."""
    before, after = change.before, change.after
    if not (names.is_dns_name(before) and names.is_dns_name(after)):
        return False
    old, new = names.registrable_domain(before), names.registrable_domain(after)
    return old is not None and new is not None and old != new


def _shown(name: str) -> str:
    """A name with its U-label form beside it when it is an IDN."""
    unicode = names.to_unicode(name)
    return name if unicode == name else f"{name} ({unicode})"


def _rule_name_typos(c: Comparison) -> list[Finding]:
    out: list[Finding] = []
    for change in close_changes(c.diff):
        edit = f"edit distance {change.distance}: {render_edit(change.edit)}"
        pair = f"{_shown(change.before)} was replaced by {_shown(change.after)}"
        if is_registrable_domain_typo(change):
            old = names.registrable_domain(change.before)
            new = names.registrable_domain(change.after)
            text = (
                f"{pair}: the registrable domain changed from {old} to {new} ({edit}); the "
                "revoked certificate named a domain its subscriber may not hold"
            )
            code = codes.DIFF_NAME_REGISTRABLE_DOMAIN_TYPO
        else:
            # A name without a registrable domain (`.portal.example.ch`) has no subdomain.
            where = "subdomain label" if names.registrable_domain(change.before) else "name"
            text = f"{pair}: a typo in the {where} ({edit})"
            code = codes.DIFF_NAME_LIKELY_TYPO
        out.append(DiffFinding.of(code, text, change=change, field="name"))
    return out


def _rule_lookalike(c: Comparison) -> list[Finding]:
    return [
        DiffFinding.of(
            codes.DIFF_NAME_LOOKALIKE,
            f"{_shown(change.before)} and {_shown(change.after)} differ only by look-alike "
            f"characters ({render_edit(change.edit)})",
            change=change,
            field="name",
        )
        for change in c.diff.name_changes
        if names.lookalike(change.before, change.after)
    ]


def _rule_idn(c: Comparison) -> list[Finding]:
    shown = [
        _shown(name)
        for name in (*c.diff.kept, *c.diff.removed, *c.diff.added)
        if names.to_unicode(name) != name
    ]
    if not shown:
        return []
    text = f"internationalised names, compared in A-label and U-label form: {listing(shown)}"
    return [codes.DIFF_NAME_IDN.finding(text)]


def _rule_added(c: Comparison) -> list[Finding]:
    partners = {change.after for change in partnered(c.diff)}
    added = [name for name in c.diff.added if name not in partners]
    if not added:
        return []
    return [codes.DIFF_NAME_ADDED.finding(f"names added: {listing(added)}")]


def _rule_removed(c: Comparison) -> list[Finding]:
    partners = {change.before for change in partnered(c.diff)}
    removed = [name for name in c.diff.removed if name not in partners]
    if not removed:
        return []
    text = f"names removed without a close replacement: {listing(removed)}"
    return [codes.DIFF_NAME_REMOVED.finding(text)]


def _rule_identical_names(c: Comparison) -> list[Finding]:
    if c.diff.added or c.diff.removed:
        return []
    kept = c.diff.kept
    text = f"the replacement has the same {len(kept)} names: {listing(kept)}"
    return [codes.DIFF_IDENTICAL_NAMES.finding(text)]


def subject_attributes(
    cert: Certificate, parsed: ParsedCertificate | None
) -> tuple[tuple[str, str], ...] | None:
    """The subject's (name, value) pairs: from the DER, else the DN column; None if unreadable."""
    if parsed is not None:
        return parsed.subject_attributes
    if cert.subject is None:
        return None
    try:
        return dn_attributes(cert.subject)
    except ValueError:
        return None


def _grouped(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped


def subject_changes(c: Comparison) -> list[tuple[str, str | None, str | None]] | None:
    """(attribute, before, after) for each attribute value that differs; None if unreadable."""
    return c.subject_changes


def _subject_changes(c: Comparison) -> list[tuple[str, str | None, str | None]] | None:
    old = subject_attributes(c.revoked, c.before)
    new = subject_attributes(c.replacement, c.after)
    if old is None or new is None:
        return None
    before, after = _grouped(old), _grouped(new)
    out: list[tuple[str, str | None, str | None]] = []
    for key in list(before) + [k for k in after if k not in before]:
        olds, news = before.get(key, []), after.get(key, [])
        for i in range(max(len(olds), len(news))):
            a = olds[i] if i < len(olds) else None
            b = news[i] if i < len(news) else None
            if a != b:
                out.append((key, a, b))
    return out


def _rule_subject(c: Comparison) -> list[Finding]:
    changes = subject_changes(c)
    if changes is None:
        if (c.revoked.subject or None) == (c.replacement.subject or None):
            return []
        old, new = (
            repr(s) if s else "no subject" for s in (c.revoked.subject, c.replacement.subject)
        )
        text = f"subject changed from {old} to {new}"
        return [codes.DIFF_SUBJECT_CHANGED.finding(text)]
    if not changes:
        return []
    parts = [
        f"{key} added {b!r}" if a is None else f"{key} removed {a!r}" if b is None else
        f"{key} {a!r} -> {b!r}"
        for key, a, b in changes
    ]  # fmt: skip
    fields = ",".join(dict.fromkeys(key for key, _, _ in changes))
    text = "subject changed: " + "; ".join(parts)
    out: list[Finding] = [DiffFinding.of(codes.DIFF_SUBJECT_CHANGED, text, field=fields)]
    paired = {(n.before, n.after) for n in c.diff.name_changes}
    for key, a, b in changes:
        if a is None or b is None or (key == "CN" and (a, b) in paired):
            continue  # a CN typo is the SAN typo already reported
        distance = edit_distance(a, b)
        if distance <= TYPO_DISTANCE:
            change = NameChange(a, b, distance, alignment(a, b))
            text = (
                f"subject {key} {a!r} was replaced by {b!r} "
                f"(edit distance {distance}: {render_edit(change.edit)})"
            )
            out.append(DiffFinding.of(codes.DIFF_SUBJECT_LIKELY_TYPO, text, change, key))
    return out


def _rule_key(c: Comparison) -> list[Finding]:
    reused = c.diff.key_reused
    if reused is None:
        return []
    if reused:
        spki = c.revoked.spki_sha256 or (c.before.spki_sha256 if c.before else None)
        text = "the replacement reuses the revoked certificate's key" + (
            f" (SPKI {spki})" if spki else ""
        )
        return [codes.DIFF_KEY_REUSED.finding(text)]
    text = "the replacement has a new key"
    if c.before is not None and c.after is not None:
        kinds = c.before.key_type, c.after.key_type
        text += f" ({kinds[0]} -> {kinds[1]})" if kinds[0] != kinds[1] else f" ({kinds[0]})"
    return [codes.DIFF_KEY_CHANGED.finding(text)]


def _validity(cert: Certificate, parsed: ParsedCertificate | None) -> int | None:
    start: datetime | None = parsed.not_before if parsed else cert.not_before
    end: datetime | None = parsed.not_after if parsed else cert.not_after
    if start is None or end is None:
        return None
    return int((end - start).total_seconds())


def _rule_validity(c: Comparison) -> list[Finding]:
    old, new = _validity(c.revoked, c.before), _validity(c.replacement, c.after)
    if old is None or new is None or old == new:
        return []
    text = f"validity period changed from {format_duration(old)} to {format_duration(new)}"
    return [codes.DIFF_VALIDITY_CHANGED.finding(text)]


def _named(oids: Sequence[str], known: dict[str, str]) -> str:
    return ", ".join(known.get(oid, oid) for oid in oids) or "none"


def _rule_profile(c: Comparison) -> list[Finding]:
    if c.before is None or c.after is None:
        return []
    out: list[Finding] = []
    for code, what, known, old, new in (
        (
            codes.DIFF_PROFILE_EKU_CHANGED,
            "extended key usage",
            EKU_NAMES,
            c.before.eku,
            c.after.eku,
        ),
        (
            codes.DIFF_PROFILE_POLICIES_CHANGED,
            "certificate policies",
            POLICY_NAMES,
            c.before.policies,
            c.after.policies,
        ),
    ):
        if set(old) != set(new):
            text = f"{what} changed from {_named(old, known)} to {_named(new, known)}"
            out.append(code.finding(text))
    return out


def _rule_issuer(c: Comparison) -> list[Finding]:
    if c.revoked.issuer == c.replacement.issuer:
        return []
    text = f"issued by another CA: {c.revoked.issuer} -> {c.replacement.issuer}"
    return [codes.DIFF_ISSUER_CHANGED.finding(text)]


def _rule_identical_reissue(c: Comparison) -> list[Finding]:
    d = c.diff
    if d.added or d.removed or d.key_reused is not True or c.revoked.issuer != c.replacement.issuer:
        return []
    if subject_changes(c) != [] or _rule_profile(c):
        return []
    profile = "" if c.before and c.after else " (profile not compared: no parsed DER)"
    text = (
        "identical reissue: same names, subject, key and issuer; only the serial and validity "
        f"moved{profile}"
    )
    return [codes.DIFF_IDENTICAL_REISSUE.finding(text)]


def _rule_unparseable(c: Comparison) -> list[Finding]:
    if c.after_error is None:
        return []
    text = (
        f"the replacement {label(c.replacement)}: the stored certificate (DER) does not parse "
        f"({c.after_error}); it is compared on the database columns"
    )
    return [codes.DIFF_DER_UNPARSEABLE.finding(text)]


RULES: tuple[Rule, ...] = (
    _rule_name_typos,
    _rule_lookalike,
    _rule_idn,
    _rule_added,
    _rule_removed,
    _rule_identical_names,
    _rule_subject,
    _rule_key,
    _rule_validity,
    _rule_profile,
    _rule_issuer,
    _rule_identical_reissue,
    _rule_unparseable,
)
