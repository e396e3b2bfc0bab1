-- Returns: nothing; inserts `certificates` issuance rows, step_us apart from base, in one
--   set-based statement: pairs of one subscriber (about 30 certificates each), four issuing CAs,
--   a typo in the first name of half the revoked ones, and the DER patched from the templates
--   (NULL templates: no DER).
-- Params: certificates, base, step_us, subscribers, template, typo_template, at
INSERT INTO issuance (issuer_dn, serial, subscriber, requester, names, subject_dn, not_before,
                      not_after, issued_at, der)
SELECT bench_issuer_dn(s.k),
       to_hex(bench_serial(s.n)),
       'sub-' || (s.k % CAST(:subscribers AS bigint)),
       'ra-operator-' || (s.n % 5),
       bench_host(s.k, s.typo) || ',shop' || lpad(s.k::text, 10, '0') || '.example',
       'CN=' || bench_host(s.k, s.typo),
       s.issued - INTERVAL '10 minutes',
       s.issued + INTERVAL '90 days' - INTERVAL '10 minutes',
       s.issued,
       bench_der(CASE WHEN s.typo THEN CAST(:typo_template AS bytea)
                      ELSE CAST(:template AS bytea) END,
                 bench_serial(s.n), s.k, s.k, s.issued, CAST(:at AS integer[]))
FROM (SELECT g.n,
             g.n / 2 AS k,
             g.n % 10 = 0 AND bench_u(g.n, 4) % 2 = 0 AS typo,
             bench_issued(g.n, CAST(:base AS timestamptz), CAST(:step_us AS bigint)) AS issued
      FROM generate_series(1, CAST(:certificates AS bigint)) AS g(n)
      OFFSET 0) AS s
