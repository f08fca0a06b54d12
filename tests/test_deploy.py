"""deploy/: the systemd units and the cron line parse, and run a real apptsync command.

systemd's own `systemd-analyze verify` judges the units where it is installed (with the
checkout's paths put in, so the ExecStart binary exists); the INI checks run everywhere.
"""

from __future__ import annotations

import argparse
import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.cli import _parser

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SERVICE = DEPLOY / "apptsync-sync.service"
TIMER = DEPLOY / "apptsync-sync.timer"
CRONTAB = DEPLOY / "crontab.example"
INSTALLED_AT = "/opt/apptsync"
"""Where the units expect the checkout; the tests put this one's path in its place."""
EVERY_15_MINUTES = "*/15 * * * *"


def unit(path: Path) -> configparser.ConfigParser:
    """A unit file as INI: systemd's syntax is INI with repeatable keys (last one wins here)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def apptsync_command(argv: list[str]) -> argparse.Namespace:
    """argv[0] is the checkout's apptsync and the rest parses as its `sync` subcommand."""
    assert argv[0] in (f"{INSTALLED_AT}/.venv/bin/apptsync", ".venv/bin/apptsync"), argv
    args = _parser().parse_args(argv[1:])
    assert args.command == "sync"
    return args


def test_the_service_is_a_oneshot_apptsync_sync_in_the_checkout():
    service = unit(SERVICE)["Service"]

    assert service["Type"] == "oneshot"
    assert service["WorkingDirectory"] == INSTALLED_AT
    assert service["EnvironmentFile"].lstrip("-").startswith("/etc/")
    args = apptsync_command(shlex.split(service["ExecStart"]))
    assert args.project_dir == INSTALLED_AT  # .dlt/ of the checkout, wherever systemd starts it
    assert service["SuccessExitStatus"] == "75"  # another run holds the lock: skipped, not failed


def test_the_timer_starts_the_service_every_15_minutes_and_catches_up():
    timer = unit(TIMER)

    assert timer["Timer"]["Unit"] == SERVICE.name
    assert timer["Timer"]["Persistent"] == "true"
    assert int(timer["Timer"]["RandomizedDelaySec"]) <= 120
    assert timer["Install"]["WantedBy"] == "timers.target"
    if shutil.which("systemd-analyze"):
        calendar = subprocess.run(
            ["systemd-analyze", "calendar", timer["Timer"]["OnCalendar"]],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "Normalized form: *-*-* *:00/15:00" in calendar.stdout
    else:
        assert timer["Timer"]["OnCalendar"] == "*:0/15"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_verifies_both_units_without_a_warning(tmp_path: Path):
    for path in (SERVICE, TIMER):
        text = path.read_text(encoding="utf-8").replace(INSTALLED_AT, str(ROOT))
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    assert (ROOT / ".venv/bin/apptsync").exists()

    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", TIMER.name, SERVICE.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )

    assert verify.returncode == 0, verify.stderr
    assert verify.stderr.strip() == ""


def test_the_cron_line_runs_apptsync_sync_every_15_minutes_from_the_checkout():
    lines = [
        line
        for line in CRONTAB.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(lines) == 1
    fields = lines[0].split(maxsplit=5)

    assert " ".join(fields[:5]) == EVERY_15_MINUTES
    command = shlex.split(fields[5])
    assert command[:3] == ["cd", INSTALLED_AT, "&&"]
    assert apptsync_command(command[3:]).quiet is True  # cron mails only failures
    assert "flock" not in fields[5]  # apptsync locks itself


def _significant_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _readme_blocks() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return [_significant_lines(block) for block in re.findall(r"```[a-z]*\n(.*?)```", readme, re.S)]


@pytest.mark.parametrize("path", [SERVICE, TIMER, CRONTAB], ids=lambda path: path.name)
def test_the_readme_shows_the_deploy_file_as_it_is(path: Path):
    assert _significant_lines(path.read_text(encoding="utf-8")) in _readme_blocks()
