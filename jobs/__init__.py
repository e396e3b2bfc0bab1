"""revwatch: the nightly report of certificates revoked soon after issuance.

The package owns one batch job, one folder per stage in the order data flows: face -> pipeline ->
source -> detect -> enrich -> report -> deliver -> state, over `core` (and `db`). `jobs.pipeline`
is the only folder that knows that order; `jobs.face.cli` is the only module that turns errors
into exit codes. tests/test_layers.py holds the import rules.
"""

__version__ = "0.1.0"
