"""deploy/deploy.sh: shellcheck-clean, runs the real steps against the test database, restarts the web
service through systemctl, never starts a sync, and stops at the first failing step.

``systemctl`` is replaced by a script that records its arguments (CRUSHME_SYSTEMCTL); ``git pull`` is
skipped (CRUSHME_SKIP_PULL=1) because the checkout under test is this one. Everything else runs for real:
pip, ``check --deploy``, migrate, collectstatic, warmup_cache when the command exists.
"""

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands
from django.db import connection

from sync.models import SyncRun
from tests.deploy.servers import REPO, postgres_url

SCRIPT = REPO / "deploy" / "deploy.sh"

requires_postgres = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="deploy.sh runs production settings, which use PostgreSQL",
)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_env_file(path: Path, *, database_url: str, static_root: Path) -> None:
    path.write_text(
        "\n".join(
            [
                "DJANGO_SETTINGS_MODULE=crushme_project.settings.production",
                "DJANGO_SECRET_KEY=deploy-test-" + "s" * 50,
                "DJANGO_ALLOWED_HOSTS=crushme.example.com",
                f"DATABASE_URL={database_url}",
                f"REDIS_URL={os.environ.get('REDIS_URL') or 'redis://127.0.0.1:6379/0'}",
                f"CACHE_KEY_PREFIX=crushme-deploytest-{os.getpid()}",
                "WOOCOMMERCE_URL=http://127.0.0.1:1",
                "WOOCOMMERCE_CONSUMER_KEY=ck_deploy_test",
                "WOOCOMMERCE_CONSUMER_SECRET=cs_deploy_test",
                f"DJANGO_STATIC_ROOT={static_root}",
                "",
            ]
        )
    )


def _run_deploy(tmp_path: Path, *, env_file: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    calls = tmp_path / "systemctl-calls"
    stub = tmp_path / "systemctl"
    stub.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    stub.chmod(0o755)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "CRUSHME_APP_DIR": str(REPO),
        "CRUSHME_ENV_FILE": str(env_file),
        "CRUSHME_SYSTEMCTL": str(stub),
        "CRUSHME_SKIP_PULL": "1",
    }
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600)
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_deploy_sh_is_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: `make deps` installs it"

    result = subprocess.run([shellcheck, "--severity=style", str(SCRIPT)], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stdout


def test_deploy_sh_is_strict_and_never_starts_a_sync():
    text = SCRIPT.read_text()
    commands = [line for line in text.splitlines() if not line.lstrip().startswith("#")]

    assert "set -euo pipefail" in text
    assert not any("sync_woocommerce" in line or "crushme-sync" in line for line in commands)


@requires_postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_deploy_runs_every_step_and_restarts_only_the_web_service_and_the_queue_processor(tmp_path):
    env_file = tmp_path / "crushme.env"
    static_root = tmp_path / "static"
    _write_env_file(env_file, database_url=postgres_url(name=connection.settings_dict["NAME"]), static_root=static_root)
    runs_before = SyncRun.objects.count()

    result, systemctl_calls = _run_deploy(tmp_path, env_file=env_file)

    assert result.returncode == 0, result.stdout + result.stderr
    assert systemctl_calls == ["restart crushme.service", "try-restart crushme-queue.service"]
    assert (static_root / "admin" / "css" / "base.css").exists()  # collectstatic ran
    # /api/docs/ works offline: Swagger UI is among the files nginx serves from disk.
    assert (static_root / "drf_spectacular_sidecar" / "swagger-ui-dist" / "swagger-ui-bundle.js").exists()
    for step in ("installing requirements", "migrating", "collecting static files", "restarting crushme.service"):
        assert step in result.stdout
    assert SyncRun.objects.count() == runs_before  # no sync ran
    if "list_fragments_fill" in get_commands():
        assert "storing the product list fragments" in result.stdout
    if "warmup_cache" in get_commands():
        assert "warming the cache" in result.stdout
    else:
        assert "no warmup_cache command" in result.stdout


@pytest.mark.slow
def test_deploy_stops_before_the_restart_when_a_step_fails(tmp_path):
    # given a database that refuses connections: migrate fails
    env_file = tmp_path / "crushme.env"
    _write_env_file(
        env_file,
        database_url=postgres_url(name="crushme", port=_closed_port()),
        static_root=tmp_path / "static",
    )

    result, systemctl_calls = _run_deploy(tmp_path, env_file=env_file)

    assert result.returncode != 0
    assert "migrating" in result.stdout
    assert systemctl_calls == []


def test_deploy_refuses_to_run_without_its_environment_file(tmp_path):
    result, systemctl_calls = _run_deploy(tmp_path, env_file=tmp_path / "missing.env")

    assert result.returncode == 1
    assert "cannot read" in result.stderr
    assert systemctl_calls == []
