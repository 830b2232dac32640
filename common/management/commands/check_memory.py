"""``manage.py check_memory``: RSS of the gunicorn master and workers, effective settings, recommendations.

Exit codes: 0 every process under the threshold; 1 at least one at or above it (or, with ``--pid``, no
such gunicorn master); 2 usage error. A monitor (cron, systemd timer, a human) runs it; it never
changes anything.
"""

import importlib.util
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

_MB = 1024 * 1024


@dataclass(frozen=True)
class ProcessMemory:
    pid: int
    role: str  # "master" or "worker"
    rss_mb: float
    vms_mb: float
    requests_hint: str


def _is_gunicorn(process: psutil.Process) -> bool:
    try:
        cmdline = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return any(Path(part).name.startswith("gunicorn") for part in cmdline[:3])


def gunicorn_masters() -> list[psutil.Process]:
    """Every gunicorn arbiter on this host: a gunicorn process whose parent is not gunicorn."""
    masters = []
    for process in psutil.process_iter(["pid"]):
        if not _is_gunicorn(process):
            continue
        try:
            parent = process.parent()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if parent is None or not _is_gunicorn(parent):
            masters.append(process)
    return masters


def _memory(process: psutil.Process, role: str) -> ProcessMemory | None:
    try:
        info = process.memory_info()
        age = int(time.time() - process.create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None  # a worker recycled while we looked
    return ProcessMemory(process.pid, role, round(info.rss / _MB, 1), round(info.vms / _MB, 1), f"up {age}s")


def _load_gunicorn_settings() -> dict[str, Any] | None:
    """The effective settings gunicorn_config.py computes from this environment, or None without it."""
    path = Path(settings.BASE_DIR) / "gunicorn_config.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("_crushme_gunicorn_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_settings(dict(os.environ))


def recommendations(
    *, gunicorn: dict[str, Any] | None, processes: list[ProcessMemory], threshold_mb: int, cpu_count: int
) -> list[str]:
    """Plain advice from the effective settings and the measured RSS; empty when nothing stands out."""
    advice = []
    if gunicorn is not None:
        workers = int(gunicorn["workers"])
        if gunicorn["worker_class"] == "gevent" and gunicorn["preload_app"]:
            advice.append("preload_app with gevent breaks database calls: unset GUNICORN_PRELOAD.")
        if int(gunicorn["max_requests"]) == 0:
            advice.append("GUNICORN_MAX_REQUESTS=0 never recycles workers: set 20000 to bound slow leaks.")
        if workers > 2 * cpu_count + 1:
            advice.append(f"{workers} workers on {cpu_count} CPU(s): more than 2 x CPU + 1 only adds memory.")
        # This command runs without the pool (DB_POOL_ENABLED is gunicorn's), so read the configured size.
        pool_max = int(os.environ.get("DB_POOL_MAX_SIZE", "").strip() or 10)
        if os.environ.get("DB_POOL_ENABLED", "").strip().lower() not in {"0", "false", "no", "off"}:
            advice.append(
                f"database connections of the web side: {workers} workers x pool {pool_max} = {workers * pool_max}; "
                "keep it <= max_connections - (sync + admin + headroom)."
            )
    workers_rss = [p.rss_mb for p in processes if p.role == "worker"]
    if workers_rss and max(workers_rss) > 120:
        advice.append(
            f"largest worker RSS {max(workers_rss)} MB is above the 120 MB target: lower GUNICORN_MAX_REQUESTS "
            "or look for a leak (MemoryMonitorMiddleware log lines show the paths)."
        )
    total = sum(p.rss_mb for p in processes)
    if processes and total >= threshold_mb:
        advice.append(f"total RSS {total:.1f} MB >= {threshold_mb} MB: fewer workers or a smaller MemoryMax.")
    return advice


class Command(BaseCommand):
    help = (
        "Report the RSS of the gunicorn master and workers, the effective gunicorn settings and recommendations. "
        "Exits 1 when a process (or the total) is at or above the threshold (MEMORY_ALERT_MB by default). "
        "Read-only; safe to run from cron or a monitor at any time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--threshold-mb",
            type=int,
            default=None,
            help="RSS in MB at or above which the command fails (default: MEMORY_ALERT_MB).",
        )
        parser.add_argument(
            "--pid",
            type=int,
            default=None,
            help="PID of the gunicorn master to inspect (default: every gunicorn master on this host).",
        )

    def handle(self, *args: Any, threshold_mb: int | None, pid: int | None, **options: Any) -> None:
        threshold = threshold_mb if threshold_mb is not None else int(settings.MEMORY_ALERT_MB)
        if threshold <= 0:
            raise CommandError("--threshold-mb must be positive.", returncode=2)
        if pid is not None:
            try:
                master = psutil.Process(pid)
            except psutil.NoSuchProcess:
                raise CommandError(f"no process with pid {pid}.") from None
            if not _is_gunicorn(master):
                raise CommandError(f"process {pid} is not gunicorn.")
            masters = [master]
        else:
            masters = gunicorn_masters()

        processes: list[ProcessMemory] = []
        for master in masters:
            sample = _memory(master, "master")
            if sample:
                processes.append(sample)
            try:
                children = master.children()
            except psutil.NoSuchProcess:
                children = []
            processes.extend(sample for child in children if (sample := _memory(child, "worker")))

        if not processes:
            self.stdout.write(self.style.WARNING("No gunicorn process found on this host."))
        for process in processes:
            self.stdout.write(
                f"{process.role:<6} pid {process.pid:<7} RSS {process.rss_mb:>8.1f} MB  "
                f"VMS {process.vms_mb:>8.1f} MB  {process.requests_hint}"
            )
        total = sum(p.rss_mb for p in processes)
        if processes:
            self.stdout.write(
                f"total  RSS {total:.1f} MB across {len(processes)} process(es); threshold {threshold} MB"
            )

        gunicorn = _load_gunicorn_settings()
        if gunicorn is not None:
            self.stdout.write("gunicorn settings (from this environment):")
            for key in (
                "bind",
                "workers",
                "worker_class",
                "worker_connections",
                "timeout",
                "max_requests",
                "max_requests_jitter",
                "preload_app",
            ):
                self.stdout.write(f"  {key} = {gunicorn[key]}")
        cpu_count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        for line in recommendations(
            gunicorn=gunicorn, processes=processes, threshold_mb=threshold, cpu_count=cpu_count
        ):
            self.stdout.write(f"recommendation: {line}")

        over = [p for p in processes if p.rss_mb >= threshold]
        if over or (processes and total >= threshold):
            names = ", ".join(f"{p.role} {p.pid} ({p.rss_mb} MB)" for p in over) or f"total {total:.1f} MB"
            raise CommandError(f"memory at or above {threshold} MB: {names}")
        self.stdout.write(self.style.SUCCESS("memory OK"))
