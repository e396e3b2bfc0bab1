-- Returns: nothing; creates bench_reason(n): the RFC 5280 reason code of revocation n (half
--   superseded, the rest unspecified, keyCompromise, affiliationChanged, cessation, privilege).
-- Params:
CREATE FUNCTION bench_reason(n bigint) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (ARRAY[0, 1, 3, 4, 4, 4, 5, 9])[1 + bench_u(n, 5) % 8]
