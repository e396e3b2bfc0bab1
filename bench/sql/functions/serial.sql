-- Returns: nothing; creates bench_serial(n): certificate n's serial, 8 bytes with the top nibble 7,
--   so that its DER INTEGER always has the same length (the DER template is patched in place).
-- Params:
CREATE FUNCTION bench_serial(n bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 8070450532247928832 + n * 1000003
