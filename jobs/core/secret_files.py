"""Secrets given as files: the `*_FILE` settings (`REVWATCH_CA_DB_PASSWORD_FILE`, ...).

Owns which settings may be given as a file named by `<name>_file` (under systemd,
`LoadCredential=` puts each one in `$CREDENTIALS_DIRECTORY`, `%d` in a unit) and how such a file is
read: a regular file of UTF-8 text, at most 64 KiB, surrounding whitespace dropped. Errors name the
setting and the file, never the content. It must not log a secret, nor decide when one is needed
(`jobs.core.settings` does).
"""

from __future__ import annotations

from pathlib import Path

from jobs.core.errors import ConfigError

# The file setting -> the secret it holds.
SECRET_FILES = {"ca_db_password_file": "ca_db_password", "smtp_password_file": "smtp_password"}
# A secret file is a password, not a stream: /dev/zero must not hang the job.
MAX_BYTES = 64 * 1024


def read_secret(path: str, name: str) -> str:
    """The secret `name` from the file at `path`, or ConfigError saying why it cannot be read."""
    file = Path(path).expanduser()
    try:
        if not file.is_file():
            raise ConfigError(f"cannot read {name} from {path}: not a regular file")
        with file.open("rb") as handle:
            content = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {name} from {path}: {exc.strerror}") from None
    if len(content) > MAX_BYTES:
        raise ConfigError(f"cannot read {name} from {path}: larger than a password can be")
    try:
        return content.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read {name} from {path}: not UTF-8 text") from None
