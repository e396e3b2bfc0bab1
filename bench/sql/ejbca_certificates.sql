-- Returns: nothing; inserts `certificates` CertificateData rows as EJBCA writes them (decimal
--   serials, epoch milliseconds, `dNSName=` SANs, status 40 and a revocationDate on every tenth),
--   the same timeline, subscribers (username) and names as generic_issuance.sql; base64Cert from
--   the patched DER template (NULL templates: no certificate stored).
-- Params: certificates, base, step_us, subscribers, template, typo_template, at
INSERT INTO CertificateData (fingerprint, base64Cert, cAFingerprint, certificateProfileId,
    crlPartitionIndex, endEntityProfileId, expireDate, invalidityDate, issuerDN, notBefore,
    revocationDate, revocationReason, rowVersion, serialNumber, status, subjectAltName, subjectDN,
    type, updateTime, username)
SELECT md5(s.n::text) || lpad(to_hex(s.n), 8, '0'),
       replace(encode(bench_der(CASE WHEN s.typo THEN CAST(:typo_template AS bytea)
                                       ELSE CAST(:template AS bytea) END,
                                  bench_serial(s.n), s.k, s.k, s.issued, CAST(:at AS integer[])),
                        'base64'), E'\n', ''),
       md5('ca ' || (s.k % 4)),
       1, 0, 1,
       bench_ms(s.issued + INTERVAL '90 days' - INTERVAL '10 minutes'),
       -1,
       bench_issuer_dn(s.k),
       bench_ms(s.issued - INTERVAL '10 minutes'),
       CASE WHEN s.revoked THEN bench_ms(s.issued + bench_delay(s.n)) ELSE -1 END,
       CASE WHEN s.revoked THEN bench_reason(s.n) ELSE -1 END,
       0,
       bench_serial(s.n)::text,
       CASE WHEN s.revoked THEN 40 ELSE 20 END,
       'dNSName=' || bench_host(s.k, s.typo) || ', dNSName=shop' || lpad(s.k::text, 10, '0')
           || '.example',
       'CN=' || bench_host(s.k, s.typo),
       1,
       bench_ms(CASE WHEN s.revoked THEN s.issued + bench_delay(s.n) ELSE s.issued END),
       'sub-' || (s.k % CAST(:subscribers AS bigint))
FROM (SELECT g.n,
             g.n / 2 AS k,
             g.n % 10 = 0 AS revoked,
             g.n % 10 = 0 AND bench_u(g.n, 4) % 2 = 0 AS typo,
             bench_issued(g.n, CAST(:base AS timestamptz), CAST(:step_us AS bigint)) AS issued
      FROM generate_series(1, CAST(:certificates AS bigint)) AS g(n)
      OFFSET 0) AS s
