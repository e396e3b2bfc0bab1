"""Code the tests share: fixtures, servers and test data. Test modules import only from here.

- `servers`: the real PostgreSQL and MariaDB servers (admin URLs, per-session databases);
- `smtp_server`: scriptable aiosmtpd servers on loopback (a pytest plugin, see `conftest.py`);
- `ca_schemas`, `ca_big`: EJBCA and Boulder databases in their real schemas, small and large;
- `ejbca_data`, `boulder_data`: the situation-by-situation CA data and the job run on it;
- `golden_rows`: the loader of the enrichment golden cases;
- `cli`: the installed `revwatch` command as a subprocess, and its log lines parsed;
- `readme_sample`: the README's samples of the demo night, and the script that rewrites them.
"""
