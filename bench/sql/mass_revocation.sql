-- Returns: nothing; inserts the mass revocation itself: certificate i of mass_issuance.sql revoked
--   on `day`, i/cases of 23 hours into it (all within one day, all within 7 days of issuance).
-- Params: cases, day
INSERT INTO revocation (issuer_dn, serial, revoked_at, reason_code, revoked_by, comment)
SELECT bench_issuer_dn(6000000000 + f.i),
       to_hex(8142508126285856768 + f.i),
       CAST(:day AS timestamptz)
           + (f.i * 82800000000 / CAST(:cases AS bigint)) * INTERVAL '1 microsecond',
       (ARRAY[4, 4, 1, 5, 0])[1 + f.i % 5],
       'ra-mass-operator-' || (f.i % 3),
       'mass revocation, incident 2026-11'
FROM generate_series(1, CAST(:cases AS bigint)) AS f(i)
ORDER BY 3
