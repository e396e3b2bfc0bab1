-- Returns: nothing; inserts the certificates of a mass revocation: `cases` certificates issued
--   over the six days before `day` (three per subscriber, a typo in every tenth), and for every
--   second one its re-issue 20 minutes after its revocation (see mass_revocation.sql). Names,
--   serials and subscribers never meet the bulk rows' (k from 6,000,000,000; serials 0x71…/0x72…).
-- Params: cases, day, template, typo_template, at
INSERT INTO issuance (issuer_dn, serial, subscriber, requester, names, subject_dn, not_before,
                      not_after, issued_at, der)
SELECT bench_issuer_dn(s.k),
       to_hex(s.serial),
       'mass-sub-' || (s.i / 3),
       'ra-mass',
       bench_host(s.k, s.typo) || ',shop' || lpad(s.k::text, 10, '0') || '.example',
       'CN=' || bench_host(s.k, s.typo),
       s.issued - INTERVAL '10 minutes',
       s.issued + INTERVAL '90 days' - INTERVAL '10 minutes',
       s.issued,
       bench_der(CASE WHEN s.typo THEN CAST(:typo_template AS bytea)
                      ELSE CAST(:template AS bytea) END,
                 s.serial, s.k, s.k, s.issued, CAST(:at AS integer[]))
FROM (SELECT g.i,
             6000000000 + g.i AS k,
             NOT g.reissue AND g.i % 10 = 0 AS typo,
             CASE WHEN g.reissue THEN 8214565720323784704 ELSE 8142508126285856768 END + g.i
                 AS serial,
             CASE WHEN g.reissue
                  THEN CAST(:day AS timestamptz)
                       + (g.i * 82800000000 / CAST(:cases AS bigint)) * INTERVAL '1 microsecond'
                       + INTERVAL '20 minutes'
                  ELSE CAST(:day AS timestamptz) - INTERVAL '6 days'
                       + (g.i * 432000000000 / CAST(:cases AS bigint)) * INTERVAL '1 microsecond'
             END AS issued
      FROM generate_series(1, CAST(:cases AS bigint)) AS f(i)
      CROSS JOIN LATERAL (VALUES (f.i, false), (f.i, true)) AS g(i, reissue)
      WHERE NOT g.reissue OR g.i % 2 = 0
      OFFSET 0) AS s
