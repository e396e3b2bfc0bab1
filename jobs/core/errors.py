"""The one error hierarchy of revwatch.

Owns the exception classes and their exit codes. Modules raise these for expected failures; only
`jobs.face.cli` turns them into exit codes and one-line messages. Nothing here logs or prints.
"""

from __future__ import annotations


class RevwatchError(Exception):
    """An expected failure: the CLI prints its message on one line, without a traceback."""

    exit_code = 1


class ConfigError(RevwatchError):
    """A setting is missing, malformed or contradictory (flags, environment, TOML file)."""

    exit_code = 2


class SourceError(RevwatchError):
    """The CA database could not be reached or queried."""

    exit_code = 3


class WrongSchemaError(SourceError):
    """The CA database lacks the tables or columns its profile reads: most likely a database of
    another CA software than the profile's (the source names the profile and the others)."""


class DeliveryError(RevwatchError):
    """The report could not be handed to the mail server."""

    exit_code = 4


class TransientDeliveryError(DeliveryError):
    """Worth retrying: connection refused or reset, timeouts, 4xx replies, a drop during DATA."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: 5xx replies, all recipients refused, authentication refused."""


class LockHeldError(RevwatchError):
    """Another run holds the job's lock."""

    exit_code = 5


class StateError(RevwatchError):
    """The job's own state database could not be read or written."""

    exit_code = 6


class OutputError(RevwatchError):
    """A file the job writes (the --out outputs, the outbox, the backfill's evidence) could not be
    written; nothing partial was left in its place."""

    exit_code = 7
