"""revwatch: the nightly report of certificates revoked soon after issuance.

The package owns one batch job: CA database -> detection -> enrichment -> report -> delivery ->
state. `jobs.pipeline.nightly` is the only module that knows that order; `jobs.face.cli` is the only
one that turns errors into exit codes.
"""

__version__ = "0.1.0"
