"""The rules that judge the revoked certificate's values: invalid names, placeholders, cut or
padded values.

Owns `RULES` of this kind (run by `jobs.enrich.diff` after those of `jobs.enrich.rules`) and
`revoked_findings`, the same judgement of a revoked certificate that has no replacement. A name
is judged by its SAN type when the DER says it (a dNSName holding `https://` is an invalid DNS
name; a URI is not judged), else by its spelling; what makes a name or value wrong is
`jobs.enrich.names` and `jobs.enrich.values`. It must not choose the replacement, do I/O or parse
DER itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from jobs.core import codes
from jobs.core.model import Certificate, Finding, NameChange
from jobs.core.x509 import ParsedCertificate
from jobs.enrich import names, values
from jobs.enrich.alignment import alignment, edit_distance, render_edit
from jobs.enrich.rules import Comparison, DiffFinding, Rule, subject_attributes, subject_changes

_DNS, _MAILBOX = "DNS name", "mailbox"


def typed_names(cert: Certificate, parsed: ParsedCertificate | None) -> list[tuple[str, str]]:
    """(type, name) of each name to judge: dNSNames and mailboxes as the DER types them; without
    DER, a name with `@` is a mailbox, an IP address or a name with a scheme (a URI) is not
    judged, and anything else is a DNS name. IP addresses in DER are valid by construction."""
    if parsed is not None:
        return [*((_DNS, n) for n in parsed.dns_names), *((_MAILBOX, n) for n in parsed.emails)]
    out: list[tuple[str, str]] = []
    for name in cert.names:
        if "://" in name or names.is_ip(name):
            continue
        out.append((_MAILBOX if "@" in name else _DNS, name))
    return out


def name_problems(
    cert: Certificate, parsed: ParsedCertificate | None
) -> list[tuple[str, str, str]]:
    """(name, its type in words, why it is invalid) for each invalid name of the certificate
    (the issuance watch judges watched certificates with this too)."""
    out: list[tuple[str, str, str]] = []
    for kind, name in typed_names(cert, parsed):
        problem = names.dns_name_problem(name) if kind == _DNS else names.mailbox_problem(name)
        if problem is not None:
            out.append((name, kind, problem))
    return out


def placeholder_values(
    cert: Certificate, parsed: ParsedCertificate | None
) -> list[tuple[str, str, str]]:
    """(attribute, value, the placeholder list's source) for each subject value that is a known
    placeholder (`jobs.enrich.values`)."""
    out: list[tuple[str, str, str]] = []
    for key, value in subject_attributes(cert, parsed) or ():
        source = values.placeholder_source(key, value)
        if source is not None:
            out.append((key, value, source))
    return out


def _invalid_names(
    cert: Certificate,
    parsed: ParsedCertificate | None,
    replacement: Certificate | None,
    changes: Sequence[NameChange] = (),
) -> list[Finding]:
    kept = {names.canonical(n) for n in replacement.names} if replacement else set()
    partner = {change.before: change.after for change in changes}
    out: list[Finding] = []
    for name, kind, problem in name_problems(cert, parsed):
        text = f"{name} is not a valid {kind}: {problem}"
        if name in partner:
            text += f"; the replacement has {partner[name]} instead"
        elif replacement is not None:
            keeps = names.canonical(name) in kept
            text += "; the replacement keeps it" if keeps else "; the replacement drops it"
        out.append(DiffFinding.of(codes.DIFF_NAME_INVALID, text, field="name"))
    return out


def _placeholders(
    cert: Certificate,
    parsed: ParsedCertificate | None,
    replaced: dict[str, str] | None = None,
) -> list[Finding]:
    out: list[Finding] = []
    for key, value, source in placeholder_values(cert, parsed):
        text = f"subject {key} is {value!r}, a placeholder ({source})"
        now = replaced.get(key) if replaced is not None else None
        if replaced is not None:
            text += (
                f"; the replacement has {key} {now!r}" if now else f"; the replacement has no {key}"
            )
        # The evidence: the placeholder, and what the replacement holds instead ("" if nothing).
        change = NameChange(value, now or "", 0)
        out.append(DiffFinding.of(codes.DIFF_SUBJECT_PLACEHOLDER, text, change, key))
    return out


def revoked_findings(cert: Certificate, parsed: ParsedCertificate | None) -> list[Finding]:
    """Invalid names and placeholders of a revoked certificate that has no replacement."""
    return [*_invalid_names(cert, parsed, None), *_placeholders(cert, parsed)]


def _rule_invalid_names(c: Comparison) -> list[Finding]:
    return _invalid_names(c.revoked, c.before, c.replacement, c.diff.name_changes)


def _rule_placeholders(c: Comparison) -> list[Finding]:
    after = subject_attributes(c.replacement, c.after) or ()
    return _placeholders(c.revoked, c.before, dict(reversed(after)))


def _partial(kind: str, what: str, before: str, after: str, edit: str) -> str:
    if kind == values.TRUNCATED:
        return f"{what} {before!r} is cut short: the replacement has {after!r} ({edit})"
    return f"{what} {before!r} carries extra text: the replacement has {after!r} ({edit})"


_CODE = {
    values.TRUNCATED: codes.DIFF_VALUE_TRUNCATED,
    values.EXTRA_TEXT: codes.DIFF_VALUE_EXTRA_TEXT,
}


def _rule_partial_values(c: Comparison) -> list[Finding]:
    out: list[Finding] = []
    for change in c.diff.name_changes:
        kind = values.relation(change.before, change.after, dns=True)
        if kind is not None:
            text = _partial(kind, "name", change.before, change.after, render_edit(change.edit))
            out.append(DiffFinding.of(_CODE[kind], text, change=change, field="name"))
    paired = {(n.before.casefold(), n.after.casefold()) for n in c.diff.name_changes}
    for key, a, b in subject_changes(c) or ():
        if a is None or b is None or (key == "CN" and (a.casefold(), b.casefold()) in paired):
            continue  # a CN that follows its SAN was judged as a name
        kind = values.relation(a, b, dns=key == "CN")
        if kind is not None:
            change = NameChange(a, b, edit_distance(a, b), alignment(a, b))
            text = _partial(kind, f"subject {key}", a, b, render_edit(change.edit))
            out.append(DiffFinding.of(_CODE[kind], text, change=change, field=key))
    return out


RULES: tuple[Rule, ...] = (_rule_invalid_names, _rule_placeholders, _rule_partial_values)
