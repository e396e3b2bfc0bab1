"""The README's samples of the demo night are what the demo does: its report's text part and
report.json, its summary line, `revwatch status` after it (`tests.support.readme_sample` writes
them; run it when this fails). Only what differs between two runs of the same night is masked:
the run ID's random part, seconds on the clock, the run's duration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import readme_sample


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> readme_sample.Night:
    return readme_sample.night(tmp_path_factory.mktemp("readme-night"))


@pytest.mark.parametrize("name", sorted(readme_sample.BLOCKS))
def test_the_readme_sample_is_the_demo_night(night: readme_sample.Night, name: str) -> None:
    fresh = night.samples[name]
    assert readme_sample.normalise(readme_sample.in_readme(name)) == readme_sample.normalise(
        fresh
    ), (
        f"README.md's {name} sample drifted from the demo night; run "
        f"`.venv/bin/python -m tests.support.readme_sample`, which writes:\n{fresh}"
    )


def test_the_json_sample_is_json_with_the_seed_case(night: readme_sample.Night) -> None:
    sample = json.loads(readme_sample.in_readme("json"))
    (seed,) = sample["cases"]
    assert seed["names"] == ["mail.cuatis.net"]
    assert seed["replacement"]["names"] == ["mail.cualtis.net"]
    assert seed["seconds_to_revocation"] == 4 * 3600 + 38 * 60


def test_the_samples_show_no_path_of_the_machine_that_wrote_them() -> None:
    for name in readme_sample.BLOCKS:
        text = readme_sample.in_readme(name)
        assert "/tmp/" not in text and str(Path.home()) + "/" not in text, name
