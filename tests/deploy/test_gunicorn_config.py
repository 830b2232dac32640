"""gunicorn_config.py: settings from the environment, the guide's defaults, and ``gunicorn --check-config``."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.deploy.servers import REPO, VENV_BIN, production_env

CONFIG = REPO / "gunicorn_config.py"


def _config_module():
    spec = importlib.util.spec_from_file_location("gunicorn_config_under_test", CONFIG)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_config(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "gunicorn"), "--config", str(CONFIG), "--check-config", "crushme_project.wsgi:application"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_defaults_are_the_guides():
    settings = _config_module().build_settings({})

    assert settings["bind"] == ["127.0.0.1:8000"]
    assert settings["workers"] == 2
    assert settings["worker_class"] == "gevent"
    assert settings["worker_connections"] == 500
    assert settings["timeout"] == 120
    assert settings["graceful_timeout"] == 30
    assert settings["keepalive"] == 0
    assert settings["max_requests"] == 20000
    assert settings["max_requests_jitter"] == 5000
    assert settings["preload_app"] is False
    assert settings["accesslog"] == "-" and settings["errorlog"] == "-"
    assert settings["control_socket_disable"] is True


def test_web_workers_get_the_pool_and_production_settings_unless_the_environment_says_otherwise():
    build_settings = _config_module().build_settings

    assert build_settings({})["raw_env"] == [
        "DB_POOL_ENABLED=true",
        "DJANGO_SETTINGS_MODULE=crushme_project.settings.production",
    ]
    assert build_settings({"DB_POOL_ENABLED": "false"})["raw_env"] == [
        "DJANGO_SETTINGS_MODULE=crushme_project.settings.production"
    ]
    assert build_settings({"DB_POOL_ENABLED": "false", "DJANGO_SETTINGS_MODULE": "tests.settings"})["raw_env"] == []


def test_every_setting_comes_from_the_environment():
    settings = _config_module().build_settings(
        {
            "GUNICORN_BIND": "unix:/run/crushme/gunicorn.sock",
            "GUNICORN_WORKERS": "3",
            "GUNICORN_WORKER_CLASS": "gthread",
            "GUNICORN_WORKER_CONNECTIONS": "100",
            "GUNICORN_THREADS": "4",
            "GUNICORN_TIMEOUT": "60",
            "GUNICORN_GRACEFUL_TIMEOUT": "10",
            "GUNICORN_KEEPALIVE": "2",
            "GUNICORN_MAX_REQUESTS": "500",
            "GUNICORN_MAX_REQUESTS_JITTER": "25",
            "GUNICORN_ACCESS_LOG": "/var/log/crushme/access.log",
            "GUNICORN_CONTROL_SOCKET": "/run/crushme/gunicorn.ctl",
        }
    )

    assert settings["bind"] == ["unix:/run/crushme/gunicorn.sock"]
    assert (settings["workers"], settings["worker_class"], settings["threads"]) == (3, "gthread", 4)
    assert (settings["worker_connections"], settings["timeout"], settings["graceful_timeout"]) == (100, 60, 10)
    assert settings["keepalive"] == 2
    assert (settings["max_requests"], settings["max_requests_jitter"]) == (500, 25)
    assert settings["accesslog"] == "/var/log/crushme/access.log"
    assert settings["control_socket"] == "/run/crushme/gunicorn.ctl"
    assert settings["control_socket_disable"] is False


@pytest.mark.parametrize(
    ("cpus", "cap", "expected"),
    [(1, 4, 3), (2, 4, 4), (2, 8, 5), (8, 6, 6), (16, 100, 33)],
)
def test_auto_workers_is_two_per_cpu_plus_one_capped(cpus, cap, expected):
    assert _config_module().compute_workers("auto", cpu_count=cpus, max_workers=cap) == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "2.5"])
def test_invalid_worker_counts_are_refused(value):
    with pytest.raises(ValueError, match="GUNICORN_WORKERS"):
        _config_module().compute_workers(value, cpu_count=2, max_workers=4)


def test_preload_with_gevent_is_refused():
    with pytest.raises(ValueError, match="GUNICORN_PRELOAD"):
        _config_module().build_settings({"GUNICORN_PRELOAD": "true"})
    # preloading stays possible for a worker class it does not break
    assert _config_module().build_settings({"GUNICORN_PRELOAD": "true", "GUNICORN_WORKER_CLASS": "sync"})["preload_app"]


def test_gunicorn_check_config_passes_with_production_settings():
    result = _check_config(production_env())

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"GUNICORN_PRELOAD": "true"}, "GUNICORN_PRELOAD"),
        ({"GUNICORN_WORKERS": "lots"}, "GUNICORN_WORKERS"),
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY"),  # production settings refuse to load
    ],
)
def test_gunicorn_check_config_fails_on_a_bad_environment(overrides, message):
    result = _check_config(production_env(**overrides))

    assert result.returncode != 0
    assert message in result.stdout + result.stderr


_WARM_UP_SCRIPT = """
import gc, importlib.util, json, logging, sys
import django
django.setup()
spec = importlib.util.spec_from_file_location("gunicorn_config_under_test", sys.argv[1])
config = importlib.util.module_from_spec(spec)
spec.loader.exec_module(config)

class Worker:
    log = logging.getLogger("worker")

logged = []
Worker.log.addHandler(type("H", (logging.Handler,), {"emit": lambda self, r: logged.append(r.getMessage())})())
before = "catalog.urls" in sys.modules
config.post_worker_init(Worker())
after = "catalog.urls" in sys.modules
print(json.dumps({"before": before, "after": after, "logged": logged, "frozen": gc.get_freeze_count()}))
"""


def _run_warm_up(**env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _WARM_UP_SCRIPT, str(CONFIG)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "DATABASE_URL": "sqlite:///unused-warm-up.sqlite3", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_worker_loads_the_urlconf_before_it_accepts_connections():
    # post_worker_init runs after the app is loaded and before the worker's accept loop: a recycled
    # worker must not make its first connections wait behind the URLconf import (docs/performance.md).
    outcome = _run_warm_up(DJANGO_SETTINGS_MODULE="crushme_project.settings.base")

    assert (outcome["before"], outcome["after"], outcome["logged"]) == (False, True, [])


def test_a_warm_worker_freezes_what_it_loaded_out_of_the_collectors_full_passes():
    # A full collection walked every object the app loaded, stalling the worker's requests for 50-70 ms
    # (docs/performance.md, "Collector pauses"); frozen objects are never walked again.
    assert _run_warm_up(DJANGO_SETTINGS_MODULE="crushme_project.settings.base")["frozen"] > 50_000
    assert (
        _run_warm_up(DJANGO_SETTINGS_MODULE="crushme_project.settings.base", GUNICORN_GC_FREEZE="false")["frozen"] == 0
    )


def test_a_broken_urlconf_is_logged_not_fatal_to_the_worker():
    outcome = _run_warm_up(DJANGO_SETTINGS_MODULE="tests.deploy.settings_broken_urlconf")

    assert outcome["after"] is False
    assert outcome["logged"] == ["URLconf warm-up failed; the first request will load it"]
