-- Returns: nothing; creates bench_issuer_dn(k): the issuing CA of pair k (four CAs), spelled as
--   jobs.certfactory writes the DN (the DER template carries the digit at the same place).
-- Params:
CREATE FUNCTION bench_issuer_dn(k bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 'CN=Bench Issuing CA ' || (k % 4) || ',O=Revwatch Bench'
