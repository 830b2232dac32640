"""manage.py check_memory against a real gunicorn (master + workers) started with this project's config."""

import subprocess
import sys

import pytest
from django.core.management import call_command

from tests.deploy.servers import REPO, gunicorn_env, running_gunicorn

pytestmark = pytest.mark.slow


def _check_memory(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check_memory", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=gunicorn_env(DJANGO_SETTINGS_MODULE="crushme_project.settings.base", GUNICORN_WORKERS="2"),
    )


@pytest.fixture(scope="module")
def gunicorn_two_workers():
    # no database needed: the workers only have to exist
    env = gunicorn_env(DATABASE_URL="sqlite:///unused-check-memory.sqlite3", GUNICORN_WORKERS="2")
    with running_gunicorn(env=env, workers=2) as server:
        yield server


def test_reports_master_and_workers_and_passes_under_the_threshold(gunicorn_two_workers):
    server = gunicorn_two_workers

    result = _check_memory("--pid", str(server.master_pid), "--threshold-mb", "100000")

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"master pid {server.master_pid} ") for line in lines)
    worker_pids = server.booted_worker_pids()
    assert len(worker_pids) == 2
    for pid in worker_pids:
        assert any(line.startswith(f"worker pid {pid} ") for line in lines), result.stdout
    assert "workers = 2" in result.stdout
    assert "worker_class = gevent" in result.stdout
    assert "memory OK" in result.stdout


def test_exits_non_zero_above_the_threshold(gunicorn_two_workers):
    result = _check_memory("--pid", str(gunicorn_two_workers.master_pid), "--threshold-mb", "1")

    assert result.returncode == 1
    assert "memory at or above 1 MB" in result.stderr


def test_a_pid_that_is_not_gunicorn_is_an_error():
    result = _check_memory("--pid", "1", "--threshold-mb", "100000")

    assert result.returncode == 1
    assert "is not gunicorn" in result.stderr or "no process" in result.stderr


def test_recommendations_flag_a_large_worker_and_an_unbounded_max_requests():
    from common.management.commands.check_memory import ProcessMemory, recommendations

    advice = recommendations(
        gunicorn={"workers": 2, "worker_class": "gevent", "preload_app": False, "max_requests": 0},
        processes=[ProcessMemory(1, "master", 40.0, 100.0, ""), ProcessMemory(2, "worker", 150.0, 300.0, "")],
        threshold_mb=1536,
        cpu_count=2,
    )

    assert any("GUNICORN_MAX_REQUESTS=0" in line for line in advice)
    assert any("above the 120 MB target" in line for line in advice)


def test_help_runs():
    with pytest.raises(SystemExit) as exit_info:
        call_command("check_memory", "--help")
    assert exit_info.value.code == 0
