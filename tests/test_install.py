"""The README's Install section, copied line by line into a fresh shell: a copy of this working
tree as a fresh clone holds it, each line run by `bash -c` in a clean environment (the user's PATH
without any virtualenv, their HOME for pip's configuration and cache), installing from the package
registry into a throwaway virtualenv; then the installed command runs the demo from elsewhere,
which needs the SQL and templates the wheel carries."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
# What a fresh clone does not hold (.gitignore, plus the machine's caches).
NOT_IN_A_CLONE = (
    ".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".hypothesis", ".pytest_cache",
    "demo-out", "backfill-out", "*.egg-info", "build", "dist", "*.sqlite",
)  # fmt: skip


def install_lines() -> list[str]:
    """The commands of the README's Install section, one per line, as a user copies them."""
    section = README[README.index("## Install\n") : README.index("## Commands\n")]
    (block,) = re.findall(r"```sh\n(.*?)\n```", section, flags=re.DOTALL)
    return [line for line in block.splitlines() if line.strip()]


def _fresh_shell_environment() -> dict[str, str]:
    """PATH without this test run's virtualenv; the real user's HOME (pip reads its
    configuration there, as the user's own shell would); nothing else."""
    venv = str(Path(sys.executable).parent)
    path = [d for d in os.environ.get("PATH", "/usr/bin:/bin").split(":") if d and d != venv]
    home = pwd.getpwuid(os.getuid()).pw_dir
    return {"PATH": ":".join(path), "HOME": home, "LANG": "C.UTF-8"}


def test_the_install_section_works_line_by_line_in_a_fresh_shell(tmp_path: Path) -> None:
    clone = tmp_path / "revwatch"
    shutil.copytree(REPO, clone, ignore=shutil.ignore_patterns(*NOT_IN_A_CLONE))
    environment = _fresh_shell_environment()
    lines = install_lines()
    assert lines[-1] == ".venv/bin/revwatch --help"
    for line in lines:
        done = subprocess.run(
            ["env", "-i", *(f"{k}={v}" for k, v in environment.items()), "bash", "-c", line],
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "usage: revwatch" in done.stdout
    # The installed package, not the clone: from another directory, with SQL and templates.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    demo = subprocess.run(
        [str(clone / ".venv" / "bin" / "revwatch"), "demo", "--out", "demo-out"],
        env={**environment, "HOME": str(tmp_path)},
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr
    assert (elsewhere / "demo-out" / "report.html").is_file()
    location = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-c", "import jobs; print(jobs.__file__)"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
    )
    assert str(clone / ".venv") in location.stdout  # a wheel installed into the venv
