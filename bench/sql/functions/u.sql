-- Returns: nothing; creates bench_u(n, seed): a well-mixed non-negative bigint for row n (the
--   benchmark's deterministic "random" draws, PostgreSQL's own hashint8extended).
-- Params:
CREATE FUNCTION bench_u(n bigint, seed bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN hashint8extended(n, seed) & 9223372036854775807
