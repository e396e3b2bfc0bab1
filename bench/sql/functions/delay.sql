-- Returns: nothing; creates bench_delay(n): how long after its issuance certificate n (every tenth
--   one) is revoked: 35% within 7 days (early), the rest 8 to 300 days after.
-- Params:
CREATE FUNCTION bench_delay(n bigint) RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN bench_u(n, 1) % 1000 < 350 THEN 60 + bench_u(n, 2) % 604680
            ELSE 691200 + bench_u(n, 2) % 25228800 END * INTERVAL '1 second'
