-- Returns: nothing; creates bench_host(k, typo): the first name of pair k's certificates
--   (`mail.shop<k>.example`, `mial.…` for a typo), ten digits wide like the DER template's.
-- Params:
CREATE FUNCTION bench_host(k bigint, typo boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN typo THEN 'mial' ELSE 'mail' END || '.shop' || lpad(k::text, 10, '0') || '.example'
