-- Returns: nothing; creates bench_ms(t): t in epoch milliseconds, as EJBCA stores times.
--   (date_part's double is exact to the microsecond here and far faster than extract's numeric.)
-- Params:
CREATE FUNCTION bench_ms(t timestamptz) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE  -- date_part on timestamptz is STABLE: IMMUTABLE stops inlining
RETURN floor(date_part('epoch', t) * 1000)::bigint
