-- Returns: nothing; creates bench_der(template, serial, k, ca, issued, at): a real certificate
--   made from a jobs.certfactory DER template by patching, at the byte offsets `at`, its serial,
--   the issuing CA's digit, the ten digits of k in its CN and both SANs, and its validity. Every
--   row gets its own DER (own SHA-256, serial and names as its columns say); only the signature
--   no longer verifies, which revwatch never checks.
-- Params:
CREATE FUNCTION bench_der(template bytea, serial bigint, k bigint, ca bigint, issued timestamptz,
                          at integer[]) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
RETURN overlay(overlay(overlay(overlay(overlay(overlay(overlay(template
    PLACING int8send(serial) FROM at[1] FOR 8)
    PLACING convert_to((ca % 4)::text, 'UTF8') FROM at[2] FOR 1)
    PLACING convert_to(lpad(k::text, 10, '0'), 'UTF8') FROM at[3] FOR 10)
    PLACING convert_to(lpad(k::text, 10, '0'), 'UTF8') FROM at[4] FOR 10)
    PLACING convert_to(lpad(k::text, 10, '0'), 'UTF8') FROM at[5] FOR 10)
    PLACING convert_to(to_char((issued - INTERVAL '10 minutes') AT TIME ZONE 'UTC',
                               'YYMMDDHH24MISS') || 'Z', 'UTF8') FROM at[6] FOR 13)
    PLACING convert_to(to_char((issued + INTERVAL '90 days' - INTERVAL '10 minutes')
                               AT TIME ZONE 'UTC', 'YYMMDDHH24MISS') || 'Z', 'UTF8') FROM at[7] FOR 13)
