"""GUNICORN_MAX_REQUESTS recycles workers: a leak is bounded by the request count, not by uptime."""

import json
import time

import pytest

from tests.deploy.servers import gunicorn_env, http_get_json, running_gunicorn

pytestmark = pytest.mark.slow


def test_a_worker_is_replaced_after_max_requests():
    env = gunicorn_env(
        DATABASE_URL="sqlite:///unused-recycling.sqlite3",
        GUNICORN_MAX_REQUESTS="20",
        GUNICORN_MAX_REQUESTS_JITTER="0",
    )
    with running_gunicorn(env=env) as server:
        first_pid = server.booted_worker_pids()[0]
        pids: list[int] = []
        # a recycled worker finishes in-flight work and exits about a second later: keep asking until
        # three workers have answered (bounded in count and time)
        deadline = time.monotonic() + 30
        while len(set(pids)) < 3 and time.monotonic() < deadline and len(pids) < 2000:
            status, body = http_get_json(f"{server.url}/test/pid/")
            assert status == 200
            pids.append(body["pid"])
            time.sleep(0.01)

    assert pids[0] == first_pid
    assert len(set(pids)) >= 3, f"workers seen: {sorted(set(pids))}"
    # each replaced worker served at least its max_requests (the first one also answered the readiness probe)
    replaced = [pid for pid in dict.fromkeys(pids)][:-1]
    assert all(pids.count(pid) >= 19 for pid in replaced), {pid: pids.count(pid) for pid in dict.fromkeys(pids)}
    assert "Autorestarting worker after current request" in server.log_text()


def test_max_requests_zero_keeps_the_worker():
    env = gunicorn_env(DATABASE_URL="sqlite:///unused-recycling.sqlite3", GUNICORN_MAX_REQUESTS="0")
    with running_gunicorn(env=env) as server:
        pids = {http_get_json(f"{server.url}/test/pid/")[1]["pid"] for _ in range(50)}

    assert pids == set(server.booted_worker_pids()[:1])


def test_the_effective_configuration_is_logged_once_at_start():
    env = gunicorn_env(DATABASE_URL="sqlite:///unused-recycling.sqlite3", GUNICORN_MAX_REQUESTS="0")
    with running_gunicorn(env=env) as server:
        http_get_json(f"{server.url}/test/pid/")
        lines = [line for line in server.log_lines if "effective configuration" in line]

    assert len(lines) == 1
    effective = json.loads(lines[0].split("effective configuration: ", 1)[1])
    assert effective["worker_class"] == "gevent"
    assert effective["workers"] == 1
    assert effective["max_requests"] == 0
    assert effective["db_pool_enabled"] == "true"  # set by the config for the web workers
    assert effective["bind"] == ["127.0.0.1:0"]
