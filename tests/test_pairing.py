"""Name pairing stays bounded on a subscriber's huge SAN list and agrees with the full pairing."""

from __future__ import annotations

import random
import string

from jobs.core.model import Certificate
from jobs.enrich import diff
from jobs.enrich.diff import candidate_pairs, diff_certificates, pair_names


def _typo(name: str, rng: random.Random) -> str:
    at = rng.randrange(len(name.split(".")[0]))
    kind = rng.choice(("insert", "delete", "substitute"))
    letter = rng.choice(string.ascii_lowercase)
    if kind == "insert":
        return name[:at] + letter + name[at:]
    if kind == "delete":
        return name[:at] + name[at + 1 :]
    return name[:at] + letter + name[at + 1 :]


def test_bounded_pairing_finds_the_same_typo_pairs_as_the_full_one() -> None:
    rng = random.Random(1672423)
    hosts = sorted({f"{rng.choice(['mail', 'www', 'api', 'shop'])}{n}" for n in range(400)})
    removed = [f"{h}.cualtis-{n % 9}.net" for n, h in enumerate(hosts)]
    intended = {(name, _typo(name, rng)) for name in removed}
    added = [typo for _, typo in intended]
    rng.shuffle(added)
    assert len(removed) * len(added) > diff.FULL_PAIRING  # the bounded path
    bounded = pair_names(removed, added)
    full_limit = diff.FULL_PAIRING
    try:
        diff.FULL_PAIRING = 10**9
        full = pair_names(removed, added)
    finally:
        diff.FULL_PAIRING = full_limit
    # 400 random one-letter typos in one dense namespace collide (api1 -> api10), the worst case
    # for neighbours: measured here, the bounded pairing keeps 385 close pairs of the full 394.
    close_bounded = sum(c.distance <= 2 for c in bounded)
    close_full = sum(c.distance <= 2 for c in full)
    assert close_full >= 0.95 * len(intended)
    assert close_bounded >= 0.95 * close_full


def test_candidates_grow_linearly_with_the_names() -> None:
    names = [f"host{n:05d}.example.com" for n in range(5000)]
    others = [f"host{n:05d}.example.org" for n in range(5000)]
    pairs = list(candidate_pairs(names, others))
    assert len(pairs) <= 2 * 2 * diff.NEIGHBOURS * len(names)


def test_past_the_cap_the_diff_says_so() -> None:
    cap = diff.MAX_PAIRED_NAMES
    revoked = Certificate(
        issuer="CN=CA", serial="1", names=tuple(f"a{n}.x.com" for n in range(cap + 5))
    )
    replacement = Certificate(issuer="CN=CA", serial="2", names=("b.x.com",))
    found = diff_certificates(revoked, replacement)
    assert "diff.name.pairing_capped" in {f.code for f in found.findings}
