-- Returns: nothing; inserts the revocation of every tenth certificate (n = 10, 20, ...) in
--   revocation-time order, as a CA appends them: bench_delay after its issuance.
-- Params: certificates, base, step_us
INSERT INTO revocation (issuer_dn, serial, revoked_at, reason_code, revoked_by, comment)
SELECT bench_issuer_dn(g.n / 2),
       to_hex(bench_serial(g.n)),
       bench_issued(g.n, CAST(:base AS timestamptz), CAST(:step_us AS bigint)) + bench_delay(g.n),
       bench_reason(g.n),
       'ra-operator-' || (bench_u(g.n, 6) % 7),
       CASE WHEN bench_u(g.n, 7) % 3 = 0 THEN 'ticket ' || g.n END
FROM generate_series(10, CAST(:certificates AS bigint), 10) AS g(n)
ORDER BY 3
