"""gunicorn configuration: every setting comes from the environment, with the operations guide's defaults.

Run: ``gunicorn -c gunicorn_config.py crushme_project.wsgi`` (deploy/systemd/crushme.service does).
Every variable is documented in deploy/.env.example; ``manage.py check_memory`` reports the effective values.

Decisions measured on a 2-core VPS (docs/operations.md, docs/performance.md):
- gevent workers, no ``preload_app``: preloading imports Django (and psycopg) before gevent patches
  the worker, and every database call then failed. The config refuses that combination.
- The web workers use a bounded psycopg pool (``DB_POOL_ENABLED`` defaults to true here, false for
  management commands), because under gevent each greenlet otherwise holds its own connection.
  gunicorn's own ``raw_env`` sets it (in the master, before workers fork; the app loads in each
  worker after gevent patched it), unless the environment already says.
- Workers are recycled rarely (20,000 + 0-5,000 requests) and load the URLconf before they accept
  (``post_worker_init``): frequent recycling stalled requests for seconds (docs/performance.md).
"""

import gc
import json
import os

_GEVENT_CLASSES = {"gevent", "gunicorn.workers.ggevent.GeventWorker"}
# What a web worker's environment holds unless the operator's says otherwise: the bounded pool
# (settings default to no pool, which is right for management commands) and production settings.
WEB_ENVIRONMENT_DEFAULTS = {
    "DB_POOL_ENABLED": "true",
    "DJANGO_SETTINGS_MODULE": "crushme_project.settings.production",
}


def _env_int(environ: dict[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _env_bool(environ: dict[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be a boolean (true/false), got {raw!r}")


def _cpu_count() -> int:
    # The CPUs this process may run on (taskset/cpuset), not the host's total.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def compute_workers(value: str, *, cpu_count: int, max_workers: int) -> int:
    """``GUNICORN_WORKERS``: a positive integer, or ``auto`` = 2 x CPU + 1 capped by ``max_workers``."""
    value = value.strip().lower()
    if value == "auto":
        return max(1, min(2 * cpu_count + 1, max_workers))
    try:
        workers = int(value)
    except ValueError:
        raise ValueError(f"GUNICORN_WORKERS must be a positive integer or 'auto', got {value!r}") from None
    if workers < 1:
        raise ValueError(f"GUNICORN_WORKERS must be a positive integer or 'auto', got {value!r}")
    return workers


def build_settings(environ: dict[str, str]) -> dict[str, object]:
    """The effective gunicorn settings for ``environ``; raises ValueError on an invalid or unsafe value."""
    worker_class = environ.get("GUNICORN_WORKER_CLASS", "").strip() or "gevent"
    preload_app = _env_bool(environ, "GUNICORN_PRELOAD", False)
    if preload_app and worker_class in _GEVENT_CLASSES:
        raise ValueError(
            "GUNICORN_PRELOAD=true with gevent workers: Django and psycopg would be imported before gevent "
            "patches the worker and every database call breaks. Unset GUNICORN_PRELOAD."
        )
    control_socket = environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
    return {
        "bind": [environ.get("GUNICORN_BIND", "").strip() or "127.0.0.1:8000"],
        "workers": compute_workers(
            environ.get("GUNICORN_WORKERS", "").strip() or "2",
            cpu_count=_cpu_count(),
            max_workers=_env_int(environ, "GUNICORN_MAX_WORKERS", 4),
        ),
        "worker_class": worker_class,
        "worker_connections": _env_int(environ, "GUNICORN_WORKER_CONNECTIONS", 500),
        "threads": _env_int(environ, "GUNICORN_THREADS", 1),
        "timeout": _env_int(environ, "GUNICORN_TIMEOUT", 120),
        "graceful_timeout": _env_int(environ, "GUNICORN_GRACEFUL_TIMEOUT", 30),
        # 0: close each connection after its response. A kept-alive connection stays with the gevent
        # worker that accepted it (and its greenlet is not served fairly inside the worker): at 50
        # connections the p99 was 0.4-2.8 s with 5 s keep-alive, ~70 ms without (docs/performance.md).
        "keepalive": _env_int(environ, "GUNICORN_KEEPALIVE", 0),
        # A safety net for a slow leak, not a routine: worker RSS is flat after its first ~10,000 requests,
        # and each replacement costs a worker boot. Every 1,000 (+0-50) requests restarted each worker every
        # ~2-10 s under load, the two nearly together: throughput -27 to -43%, requests stalled 5-11 s. The
        # jitter is a quarter so the two workers are never replaced at once (docs/performance.md).
        "max_requests": _env_int(environ, "GUNICORN_MAX_REQUESTS", 20000),
        "max_requests_jitter": _env_int(environ, "GUNICORN_MAX_REQUESTS_JITTER", 5000),
        "preload_app": preload_app,
        # After the warm-up, move what the app loaded (~110,000 objects) out of the collector's reach: every
        # full collection otherwise walked it, 50-70 ms with every greenlet of the worker stalled, a few
        # times a minute per worker under load: the p99 (docs/performance.md, "Collector pauses").
        "gc_freeze": _env_bool(environ, "GUNICORN_GC_FREEZE", True),
        "accesslog": environ.get("GUNICORN_ACCESS_LOG", "").strip() or "-",
        "errorlog": environ.get("GUNICORN_ERROR_LOG", "").strip() or "-",
        "loglevel": environ.get("GUNICORN_LOG_LEVEL", "").strip() or "info",
        # The socket must be reachable by nginx (group member), not by everyone.
        "umask": 0o007,
        "proc_name": "crushme",
        # Heartbeat files on tmpfs: a worker blocked on a slow disk must not look dead.
        "worker_tmp_dir": environ.get("GUNICORN_WORKER_TMP_DIR", "").strip()
        or ("/dev/shm" if os.path.isdir("/dev/shm") else None),
        "forwarded_allow_ips": environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "").strip() or "127.0.0.1,::1",
        # gunicorn >= 25 opens a control socket in $HOME by default: read-only under ProtectSystem=strict,
        # and shared by every gunicorn of the user. Off unless a path is given (e.g. /run/crushme/gunicorn.ctl).
        "control_socket": control_socket or "",
        "control_socket_disable": not control_socket,
        "raw_env": [f"{name}={value}" for name, value in WEB_ENVIRONMENT_DEFAULTS.items() if name not in environ],
    }


_settings = build_settings(dict(os.environ))

bind = _settings["bind"]
workers = _settings["workers"]
worker_class = _settings["worker_class"]
worker_connections = _settings["worker_connections"]
threads = _settings["threads"]
timeout = _settings["timeout"]
graceful_timeout = _settings["graceful_timeout"]
keepalive = _settings["keepalive"]
max_requests = _settings["max_requests"]
max_requests_jitter = _settings["max_requests_jitter"]
preload_app = _settings["preload_app"]
accesslog = _settings["accesslog"]
errorlog = _settings["errorlog"]
loglevel = _settings["loglevel"]
umask = _settings["umask"]
proc_name = _settings["proc_name"]
worker_tmp_dir = _settings["worker_tmp_dir"]
forwarded_allow_ips = _settings["forwarded_allow_ips"]
control_socket_disable = _settings["control_socket_disable"]
raw_env = _settings["raw_env"]
if _settings["control_socket"]:
    control_socket = _settings["control_socket"]


def post_worker_init(worker) -> None:
    # Import the URLconf (every view, serializer, DRF and drf-spectacular: ~0.5 s of CPU on an idle
    # machine, seconds on a busy one, +30 MB) before the worker accepts connections. Left to the first
    # request, a fresh gevent worker accepts a burst of connections and holds them all behind that
    # import: with recycling, each restart then stalled requests for seconds (docs/performance.md,
    # "Worker recycling").
    from django.urls import get_resolver

    try:
        get_resolver().url_patterns  # noqa: B018 - the property imports the whole URLconf
    except Exception:  # a broken URLconf must not stop the worker: its requests report the error
        worker.log.exception("URLconf warm-up failed; the first request will load it")
    from common.db import database_pool_check_cheaply

    database_pool_check_cheaply()  # a connection's check before each request: a system call, not a round trip
    if _settings["gc_freeze"]:
        gc.collect()
        gc.freeze()


def when_ready(server) -> None:
    effective = dict(_settings, bind=server.cfg.bind, db_pool_enabled=os.environ.get("DB_POOL_ENABLED"))
    server.log.info("crushme gunicorn effective configuration: %s", json.dumps(effective, sort_keys=True))
