"""``manage.py`` loads the apps with the cyclic GC paused, then runs the command with it enabled."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_command_runs_with_the_gc_enabled_and_the_start_up_objects_frozen():
    result = manage("shell", "-c", "import gc; print(gc.isenabled(), gc.get_freeze_count() > 10_000)")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "True True"


def test_settings_that_do_not_load_are_still_reported_by_django():
    result = manage("help", DJANGO_SETTINGS_MODULE="crushme_project.settings.missing")

    assert result.returncode == 0, result.stderr
    assert "settings are not properly configured" in result.stdout + result.stderr
    assert "No module named 'crushme_project.settings.missing'" in result.stdout + result.stderr
