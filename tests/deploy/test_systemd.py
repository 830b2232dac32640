"""deploy/systemd/: every unit passes ``systemd-analyze verify`` and does what the operations guide says.

systemd is not PID 1 in CI containers, but ``systemd-analyze verify`` only needs the unit files and the
executables they name. The committed units name the documented install path (/opt/crushme); the test
verifies a copy in which that prefix is replaced by this checkout, whose .venv has the same layout, so
``ExecStart`` points at binaries that exist. Nothing else is changed.
"""

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.servers import REPO

UNIT_DIR = REPO / "deploy" / "systemd"
INSTALL_DIR = "/opt/crushme"
UNITS = sorted(p.name for p in UNIT_DIR.iterdir() if p.suffix in {".service", ".timer"})
SCHEDULE = {
    "stock": "*-*-* 03:00:00",
    "products": "Sun *-*-* 02:00:00",
    "categories": "*-*-01 01:00:00",
}


def _systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    assert path, "systemd-analyze is missing: `make deps` installs it (package systemd)"
    return path


def _installed_copy(tmp_path: Path) -> Path:
    for unit in UNIT_DIR.iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALL_DIR, str(REPO)))
    return tmp_path


def _verify(directory: Path, *names: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_systemd_analyze(), "verify", "--man=no", *names],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read_string((UNIT_DIR / name).read_text())
    return parser


def test_the_expected_units_exist():
    assert UNITS == [
        "crushme-queue.service",
        "crushme-sync-categories.timer",
        "crushme-sync-products.timer",
        "crushme-sync-stock.timer",
        "crushme-sync@.service",
        "crushme-webhooks-check.service",
        "crushme-webhooks-check.timer",
        "crushme.service",
    ]


@pytest.mark.parametrize("name", [*UNITS, "crushme-sync@stock.service", "crushme-sync@full.service"])
def test_systemd_analyze_verify_passes(tmp_path, name):
    directory = _installed_copy(tmp_path)

    result = _verify(directory, name)

    # verify prints unknown keys and bad values as warnings and may still exit 0: both must be clean
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_verify_catches_a_broken_unit(tmp_path):
    # the check above can fail: a misspelt key and a missing executable are reported
    directory = _installed_copy(tmp_path)
    text = (directory / "crushme.service").read_text()
    (directory / "crushme.service").write_text(
        text.replace("Type=notify", "Typ=notify").replace(".venv/bin/gunicorn", ".venv/bin/no-such-gunicorn")
    )

    result = _verify(directory, "crushme.service")

    assert result.returncode != 0
    assert "Unknown key" in result.stderr and "no-such-gunicorn" in result.stderr


def test_committed_units_use_the_documented_install_path():
    for name in UNITS:
        text = (UNIT_DIR / name).read_text()
        assert str(REPO) not in text
        for line in text.splitlines():
            if line.startswith(("ExecStart=", "WorkingDirectory=")):
                assert INSTALL_DIR in line, line


def test_web_service_runs_gunicorn_with_the_project_config_hardened():
    service = _unit("crushme.service")["Service"]

    assert service["Type"] == "notify"
    assert service["Restart"] == "always"
    assert service["User"] == "crushme"
    assert service["EnvironmentFile"] == "/etc/crushme/crushme.env"
    gunicorn = f"{INSTALL_DIR}/.venv/bin/gunicorn --config {INSTALL_DIR}/gunicorn_config.py "
    assert service["ExecStart"].startswith(gunicorn)
    assert "--preload" not in service["ExecStart"]
    assert service["NoNewPrivileges"] == "true"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "true"
    assert service["RuntimeDirectory"] == "crushme"


def test_sync_template_cannot_starve_the_web_process():
    service = _unit("crushme-sync@.service")["Service"]

    assert service["Type"] == "oneshot"
    assert service["ExecStart"] == f"{INSTALL_DIR}/.venv/bin/python {INSTALL_DIR}/manage.py sync_woocommerce --%i"
    assert int(service["Nice"]) >= 10
    assert service["CPUQuota"] == "50%"
    assert service["IOSchedulingClass"] == "idle"
    assert service["MemoryMax"] == "768M"
    assert service["TimeoutStartSec"] == "4h"
    assert service["KillSignal"] == "SIGTERM"
    # 75 = another sync holds the lock: skipped, not failed
    assert service["SuccessExitStatus"] == "75"
    assert "DB_POOL_ENABLED=false" in (UNIT_DIR / "crushme-sync@.service").read_text()
    assert service["User"] == "crushme"
    assert service["NoNewPrivileges"] == "true"


@pytest.mark.parametrize("mode", sorted(SCHEDULE))
def test_timers_follow_the_guide_schedule(mode):
    timer = _unit(f"crushme-sync-{mode}.timer")["Timer"]

    assert timer["OnCalendar"] == SCHEDULE[mode]
    assert timer["Unit"] == f"crushme-sync@{mode}.service"
    assert timer["Persistent"] == "true"
    delay = re.fullmatch(r"(\d+)min", timer["RandomizedDelaySec"])
    assert delay and 1 <= int(delay.group(1)) <= 30


@pytest.mark.parametrize(
    ("mode", "expected_next"),
    [
        # from Wednesday 2026-01-07 12:00 UTC
        ("stock", "Thu 2026-01-08 03:00:00 UTC"),
        ("products", "Sun 2026-01-11 02:00:00 UTC"),
        ("categories", "Sun 2026-02-01 01:00:00 UTC"),
    ],
)
def test_timer_calendars_mean_what_the_guide_says(mode, expected_next):
    result = subprocess.run(
        [_systemd_analyze(), "calendar", "--base-time=2026-01-07 12:00:00 UTC", f"{SCHEDULE[mode]} UTC"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert f"Next elapse: {expected_next}" in result.stdout


def test_full_sync_is_never_scheduled():
    assert not any("full" in name for name in UNITS if name.endswith(".timer"))


def test_queue_processor_always_runs_under_the_sync_units_limits():
    queue = _unit("crushme-queue.service")
    service, sync = queue["Service"], _unit("crushme-sync@.service")["Service"]

    assert service["Type"] == "simple"
    assert service["Restart"] == "always"
    assert queue["Unit"]["StartLimitIntervalSec"] == "0"  # never gives up restarting
    assert service["ExecStart"] == f"{INSTALL_DIR}/.venv/bin/python {INSTALL_DIR}/manage.py process_sync_queue"
    assert service["KillSignal"] == "SIGTERM"  # finishes its batch, exits 0
    for limit in ("Nice", "CPUWeight", "CPUQuota", "IOSchedulingClass", "IOWeight", "MemoryHigh", "MemoryMax"):
        assert service[limit] == sync[limit], limit
    assert "DB_POOL_ENABLED=false" in (UNIT_DIR / "crushme-queue.service").read_text()
    assert service["User"] == "crushme" and service["NoNewPrivileges"] == "true"
    assert queue["Install"]["WantedBy"] == "multi-user.target"


def test_webhooks_are_checked_daily():
    timer = _unit("crushme-webhooks-check.timer")["Timer"]
    service = _unit("crushme-webhooks-check.service")["Service"]

    assert timer["Unit"] == "crushme-webhooks-check.service" and timer["Persistent"] == "true"
    assert service["Type"] == "oneshot"
    assert service["ExecStart"].endswith("manage.py woocommerce_webhooks --check")
    result = subprocess.run(
        [_systemd_analyze(), "calendar", "--base-time=2026-01-07 12:00:00 UTC", f"{timer['OnCalendar']} UTC"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "Next elapse: Thu 2026-01-08 07:30:00 UTC" in result.stdout
