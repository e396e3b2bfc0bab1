"""Benchmark: a subscriber's huge SAN list against look-alike replacements (hostile input).

A revoked certificate with N names (default 5,000) and 3 replacement candidates of the same
subscriber, each a near copy: every name one letter off (a look-alike night), plus, in one, the
exact fix of a single typo. Timed: `jobs.enrich.enrichment.enrich` on that one case, which ranks
the three candidates (pairing every removed with an added name) and diffs the chosen one. Prints
seconds and peak memory of the process, and checks the pairing still finds the typo. Before the
bounded pairing, 2,000 names took 25 s and 600 MB, 5,000 names with 3 candidates 335 s and 3 GB.

    .venv/bin/python bench/pairing.py               # 5,000 names x 3 candidates
    .venv/bin/python bench/pairing.py --names 500   # smaller

It must not touch a database or the network.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs.core.model import Case, Certificate, Revocation
from jobs.enrich.enrichment import enrich

ISSUED = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ISSUER = "CN=Bench Issuing CA,O=Bench"


def _names(count: int, variant: int) -> tuple[str, ...]:
    """`count` host names; `variant` > 0 makes each a look-alike (one letter off) of variant 0."""
    out = []
    for n in range(count):
        host = f"host{n:05d}-shop"
        if variant:
            host = host.replace("shop", ("sh0p", "shqp", "sbop")[variant - 1])
        out.append(f"{host}.customer-{n % 50}.example")
    return tuple(out)


def build(count: int) -> tuple[Case, list[Certificate]]:
    revoked_names = _names(count, 0)
    revoked = Certificate(
        issuer=ISSUER, serial="1", subscriber="bulk", names=revoked_names,
        issued_at=ISSUED, not_before=ISSUED, not_after=ISSUED + timedelta(days=90),
    )  # fmt: skip
    case = Case(
        certificate=revoked,
        revocation=Revocation(issuer=ISSUER, serial="1", revoked_at=ISSUED + timedelta(hours=2)),
        seconds_to_revocation=7200,
    )
    candidates = []
    for variant in (1, 2, 3):
        names = list(_names(count, variant))
        if variant == 3:
            # The real fix: the revoked names but one, whose typo is corrected.
            names = list(revoked_names)
            names[7] = names[7].replace("shop", "shops")
        candidates.append(
            Certificate(
                issuer=ISSUER,
                serial=format(1 + variant, "x"),
                subscriber="bulk",
                names=tuple(names),
                issued_at=ISSUED + timedelta(hours=2, minutes=variant),
                not_before=ISSUED,
                not_after=ISSUED + timedelta(days=90),
            )
        )
    return case, candidates


def run(count: int) -> dict[str, Any]:
    case, candidates = build(count)
    started = time.perf_counter()
    (enriched,) = enrich([case], candidates)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    replacement = enriched.replacement.serial if enriched.replacement else None
    changes = enriched.diff.name_changes if enriched.diff else ()
    return {
        "names": count,
        "seconds": seconds,
        "peak_rss_mb": peak_mb,
        "replacement": replacement,
        "typo_found": any(c.distance == 1 and "shops" in c.after for c in changes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=5000)
    figures = run(parser.parse_args().names)
    print(
        f"{figures['names']:,} names x 3 look-alike candidates: {figures['seconds']:.2f} s, "
        f"peak RSS {figures['peak_rss_mb']:.0f} MB; replacement serial {figures['replacement']}, "
        f"typo paired: {figures['typo_found']}"
    )


if __name__ == "__main__":
    main()
