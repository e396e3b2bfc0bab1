-- Returns: nothing; creates bench_issued(n, base, step_us): certificate n's issuance time. Rows are
--   step_us apart from base. Certificates come in pairs (2k, 2k+1) of one subscriber; the second of
--   a pair whose first is revoked early is, for half of them, re-issued within a day after that
--   revocation, else issued a second before the first (so it is no replacement candidate).
-- Params:
CREATE FUNCTION bench_issued(n bigint, base timestamptz, step_us bigint) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE  -- timestamptz + interval is STABLE: IMMUTABLE would stop inlining
RETURN CASE
    WHEN n % 10 = 1 AND bench_u(n - 1, 1) % 1000 < 175
        THEN base + ((n - 1) * step_us) * INTERVAL '1 microsecond' + bench_delay(n - 1)
             + (60 + bench_u(n - 1, 3) % 86000) * INTERVAL '1 second'
    WHEN n % 10 = 1 THEN base + ((n - 1) * step_us) * INTERVAL '1 microsecond' - INTERVAL '1 second'
    ELSE base + (n * step_us) * INTERVAL '1 microsecond'
END
