"""The shipped schedules, run as their schedulers would run them: the systemd service and timer
(`systemd-analyze verify`, their hardening, secrets through `LoadCredential=` and the `*_FILE`
settings, the unit's own command line with its environment) and the cron line (`/bin/sh -c` in
`env -i` with cron's PATH, against a demo CA and a real SMTP server)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.core.secret_files import SECRET_FILES
from jobs.core.settings import utcnow
from jobs.demo import dataset as demo
from tests.support.cli import log_lines
from tests.support.smtp_server import ScriptedServer

REPO = Path(__file__).parent.parent
EXAMPLES = REPO / "examples"
README = (REPO / "README.md").read_text(encoding="utf-8")
# Where the examples expect things on a production host, and where they are in this test.
INSTALLED_VENV = "/opt/revwatch/.venv"
CONFIG = "/etc/revwatch/revwatch.toml"
CRON_LOG = "/var/lib/revwatch/revwatch.log"
VENV = Path(sys.executable).parent.parent  # the virtualenv running these tests
# The environment cron gives a job (Debian's cron: PATH=/usr/bin:/bin), and systemd's default.
CRON_PATH = "/usr/bin:/bin"
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"


def unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections as (key, value) pairs in order; comments and blanks left out."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def values(pairs: list[tuple[str, str]], key: str) -> list[str]:
    return [value for name, value in pairs if name == key]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "demo-ca.sqlite"
    demo.create_sqlite(path, utcnow())
    return path


def _config(path: Path, ca: Path, state: Path, server: ScriptedServer, **more: str) -> Path:
    """A revwatch.toml for a run against `ca` that mails `server`."""
    text = {"ca_db": str(ca), "state_db": str(state), "smtp_host": server.host, **more}
    path.write_text(
        "".join(f'{key} = "{value}"\n' for key, value in text.items())
        + f"smtp_port = {server.port}\n"
        + 'mail_from = "revwatch@ca.example"\nmail_to = ["compliance@ca.example"]\n'
    )
    return path


# --- systemd ------------------------------------------------------------------------------------


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("systemd-analyze is missing (CI=true: install Debian's systemd package)")
        pytest.skip("systemd-analyze is not installed")
    for name in ("revwatch.service", "revwatch.timer"):
        text = (EXAMPLES / "systemd" / name).read_text(encoding="utf-8")
        # verify checks that ExecStart's program exists: point it at this test's virtualenv.
        (tmp_path / name).write_text(text.replace(INSTALLED_VENV, str(VENV)), encoding="utf-8")
    service, timer = tmp_path / "revwatch.service", tmp_path / "revwatch.timer"
    done = subprocess.run(
        [tool, "verify", "--man=no", str(service), str(timer)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "revwatch" not in done.stderr, done.stderr
    security = subprocess.run(
        [tool, "security", "--offline=true", str(service)], capture_output=True, text=True
    )
    match = re.search(r"Overall exposure level for revwatch.service: ([\d.]+)", security.stdout)
    assert match is not None, security.stdout + security.stderr
    print(f"systemd-analyze security: {match.group(1)}")
    assert float(match.group(1)) <= 2.0  # "OK" ends at 3.9; keep what was earned


def test_the_service_is_hardened_and_reads_its_secrets_as_credentials() -> None:
    service = unit(EXAMPLES / "systemd" / "revwatch.service")["Service"]
    single = dict(service)
    assert single["Type"] == "oneshot"
    assert single["User"] == single["Group"] == "revwatch"
    for key, value in {
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "PrivateDevices": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "",
        "StateDirectory": "revwatch", "StateDirectoryMode": "0700", "UMask": "0077",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    }.items():  # fmt: skip
        assert single[key] == value, key
    assert "ReadWritePaths" not in single  # the state directory is the only writable place
    exec_start = shlex.split(single["ExecStart"])
    assert exec_start[:2] == [f"{INSTALLED_VENV}/bin/revwatch", "run"]
    environment = dict(v.split("=", 1) for v in values(service, "Environment"))
    credentials = dict(v.split(":", 1) for v in values(service, "LoadCredential"))
    # Every secret a `*_FILE` setting reads comes in as a credential, and nothing else does.
    assert {
        name: environment[f"REVWATCH_{name.upper()}"] for name in SECRET_FILES
    } == {name: f"%d/{credential}" for name, credential in zip(
        SECRET_FILES, ("ca-db-password", "smtp-password"), strict=True
    )}  # fmt: skip
    assert sorted(credentials) == ["ca-db-password", "smtp-password"]
    assert all(path.startswith("/etc/revwatch/credentials/") for path in credentials.values())
    timer = dict(unit(EXAMPLES / "systemd" / "revwatch.timer")["Timer"])
    assert timer["OnCalendar"] == "*-*-* 02:15:00 UTC" and timer["Persistent"] == "true"
    assert timer["Unit"] == "revwatch.service"


def test_the_service_command_mails_with_its_environment_and_credentials(
    ca: Path, smtp_starttls_auth: ScriptedServer, tmp_path: Path
) -> None:
    """What systemd starts: ExecStart, the unit's Environment= with `%d` the credentials
    directory, systemd's default PATH and nothing else; the SMTP password only in a credential,
    against a server that demands STARTTLS and AUTH."""
    server = smtp_starttls_auth
    assert server.password and server.user and server.ca_bundle
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "smtp-password").write_text(server.password + "\n")
    (credentials / "ca-db-password").write_text("unused by a SQLite CA database\n")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)  # StateDirectory=
    config = _config(
        tmp_path / "revwatch.toml", ca, state / "revwatch-state.sqlite", server,
        smtp_security="starttls", smtp_user=server.user, smtp_ca_bundle=str(server.ca_bundle),
    )  # fmt: skip
    service = unit(EXAMPLES / "systemd" / "revwatch.service")["Service"]
    command = shlex.split(
        dict(service)["ExecStart"].replace(INSTALLED_VENV, str(VENV)).replace(CONFIG, str(config))
    )
    environment = {
        key: value.replace("%d", str(credentials))
        for key, value in (v.split("=", 1) for v in values(service, "Environment"))
    }
    done = subprocess.run(
        command,
        env={"PATH": SYSTEMD_PATH, "LANG": "C.UTF-8", **environment},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    (line,) = [line for line in log_lines(done.stderr) if line["logger"] == "revwatch.run"]
    assert "mailed=true" in line["message"]
    assert len(server.messages) == 1
    assert server.password not in done.stderr


# --- cron ---------------------------------------------------------------------------------------


def _cron_line() -> str:
    lines = [
        line
        for line in (EXAMPLES / "cron" / "revwatch.crontab").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    (line,) = lines
    return line


def test_the_readme_shows_the_shipped_cron_line() -> None:
    (block,) = re.findall(r"```cron\n(.*?)\n```", README, flags=re.DOTALL)
    assert block == _cron_line()
    assert _cron_line().split()[5] == f"{INSTALLED_VENV}/bin/revwatch"


def test_the_cron_line_runs_with_crons_path(
    ca: Path, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    minute, hour, day, month, weekday, command = _cron_line().split(None, 5)
    assert (minute, hour, day, month, weekday) == ("15", "2", "*", "*", "*")
    config = _config(
        tmp_path / "revwatch.toml", ca, tmp_path / "revwatch-state.sqlite", smtp_server,
        smtp_security="none",
    )  # fmt: skip
    log = tmp_path / "revwatch.log"
    command = (
        command.replace(INSTALLED_VENV, str(VENV))
        .replace(CONFIG, str(config))
        .replace(CRON_LOG, str(log))
    )
    home = tmp_path / "home"
    home.mkdir()
    cron_env = [f"PATH={CRON_PATH}", f"HOME={home}", "SHELL=/bin/sh", "LOGNAME=revwatch"]
    done = subprocess.run(
        ["env", "-i", *cron_env, "/bin/sh", "-c", command],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, log.read_text() if log.exists() else done.stderr
    assert done.stdout == done.stderr == ""  # all of it in the log: cron mails nothing
    (line,) = [line for line in log_lines(log.read_text()) if line["logger"] == "revwatch.run"]
    assert "mailed=true" in line["message"]
    assert len(smtp_server.messages) == 1
    assert list(home.iterdir()) == []  # the ledger is where the config says, not in HOME
    # A bare `revwatch` is not found there: the reason the line names the venv's program.
    if not any((Path(d) / "revwatch").exists() for d in CRON_PATH.split(":")):
        bare = subprocess.run(
            ["env", "-i", f"PATH={CRON_PATH}", "/bin/sh", "-c", "revwatch"], capture_output=True
        )
        assert bare.returncode == 127
