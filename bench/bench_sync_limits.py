"""API p99 under load, without a sync, with ``sync_woocommerce --full`` under the
``crushme-sync@.service`` limits, and (for contrast) with the same sync unlimited.

    make bench-sync-limits
    # or: DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/bench_sync_limits.py

How the unit's limits are reproduced (systemd is not PID 1 in this container, so ``systemd-run --scope``
cannot run): the sync process is started inside cgroups created for it — CPUQuota=50% as
cpu.cfs_quota_us=50000 per 100000 (v1) or cpu.max "50000 100000" (v2), CPUWeight=20 as cpu.shares=205 /
cpu.weight=20, MemoryMax=768M as memory.limit_in_bytes / memory.max — and under ``nice -n 15`` and
``ionice -c 3`` (IOSchedulingClass=idle). When cgroups are not writable it falls back to nice + ionice
and says so. The result names the method used.

Load: an open-loop generator at a fixed rate (default 100 requests/s, about a quarter of one gevent
worker's capacity here) over a mix of catalog paths; latency is measured from each request's scheduled
time, so a stalled server is not hidden by a stalled client. With a sync, the load window is the sync's whole
run (from 1 s after its start until it exits). The sync alternates between two sandbox
stores with different seeds, so every run really rewrites the catalog (and invalidates the API cache);
`--catalog unchanged` syncs the store already mirrored instead (reads and compares, writes nothing).
"""

import argparse
import contextlib
import http.client
import math
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deploy_harness import (
    PYTHON,
    REPO,
    bench_database,
    catalog_paths,
    gunicorn_env,
    manage,
    manage_env,
    running_gunicorn,
    sandbox,
    write_result,
)

CPU_QUOTA_US, CPU_PERIOD_US = 50_000, 100_000  # CPUQuota=50%
CPU_SHARES, CPU_WEIGHT = 205, 20  # CPUWeight=20 (default 100 = 1024 shares)
MEMORY_MAX = 768 * 1024 * 1024  # MemoryMax=768M
NICE, IONICE_CLASS = "15", "3"  # Nice=15, IOSchedulingClass=idle


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def open_loop(base_url: str, paths: list[str], *, rate: float, seconds: float, stop: threading.Event | None = None):
    """GET paths at ``rate``/s for ``seconds`` (or until ``stop``); latencies (ms) from the scheduled times."""
    total = int(rate * seconds)
    start = time.monotonic() + 0.2
    latencies: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    slots = iter(range(total))

    host, port = base_url.removeprefix("http://").split(":")

    def worker() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)  # keep-alive, like nginx upstream
        while True:
            with lock:
                n = next(slots, None)
            if n is None or (stop is not None and stop.is_set()):
                conn.close()
                return
            scheduled = start + n / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                conn.request("GET", paths[n % len(paths)])
                response = conn.getresponse()
                response.read()
                key = str(response.status)
                ok = response.status == 200
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                ok, key = False, type(exc).__name__
                conn.close()
            elapsed_ms = (time.monotonic() - scheduled) * 1000
            with lock:
                if ok:
                    latencies.append(elapsed_ms)
                else:
                    errors[key] = errors.get(key, 0) + 1

    began = time.monotonic()
    load_before = os.getloadavg()[0]  # other work on the machine skews latency: record it
    with ThreadPoolExecutor(max_workers=32) as pool:
        for _ in range(32):
            pool.submit(worker)
    duration = time.monotonic() - began
    return {
        "requests_ok": len(latencies),
        "errors": errors,
        "seconds": round(duration, 1),
        "p50_ms": round(percentile(latencies, 0.50), 1) if latencies else None,
        "p90_ms": round(percentile(latencies, 0.90), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "loadavg_1m_before": round(load_before, 2),
    }


def _own_cgroup_v1(controller: str) -> Path | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path("/sys/fs/cgroup") / controller / path.lstrip("/")
    return None


@contextlib.contextmanager
def unit_cgroups() -> Iterator[tuple[list[Path], str]]:
    """Cgroups with the unit's CPU and memory limits; yields (dirs to join, method description)."""
    created: list[Path] = []
    name = f"crushme-sync-bench-{os.getpid()}"
    try:
        cpu = _own_cgroup_v1("cpu")
        memory = _own_cgroup_v1("memory")
        if cpu and memory and (cpu / "cpu.cfs_quota_us").exists():
            cpu_dir, memory_dir = cpu / name, memory / name
            cpu_dir.mkdir()
            created.append(cpu_dir)
            memory_dir.mkdir()
            created.append(memory_dir)
            (cpu_dir / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (cpu_dir / "cpu.cfs_quota_us").write_text(str(CPU_QUOTA_US))
            (cpu_dir / "cpu.shares").write_text(str(CPU_SHARES))
            (memory_dir / "memory.limit_in_bytes").write_text(str(MEMORY_MAX))
            yield (
                created,
                (
                    "cgroup v1 (cpu.cfs_quota_us 50%, cpu.shares 205, memory.limit_in_bytes 768M)"
                    " + nice 15 + ionice idle"
                ),
            )
            return
        unified = Path("/sys/fs/cgroup")
        if (unified / "cgroup.controllers").exists():
            own = Path("/proc/self/cgroup").read_text().strip().split("::", 1)[1]
            group = unified / own.lstrip("/") / name
            group.mkdir()
            created.append(group)
            (group / "cpu.max").write_text(f"{CPU_QUOTA_US} {CPU_PERIOD_US}")
            (group / "cpu.weight").write_text(str(CPU_WEIGHT))
            (group / "memory.max").write_text(str(MEMORY_MAX))
            yield created, "cgroup v2 (cpu.max 50%, cpu.weight 20, memory.max 768M) + nice 15 + ionice idle"
            return
        raise OSError("no writable cgroup hierarchy")
    except OSError as exc:
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                directory.rmdir()
        created.clear()
        yield [], f"nice 15 + ionice idle only (cgroups not writable: {exc})"
    finally:
        for directory in reversed(created):
            for _ in range(50):  # the group must be empty; the sync has exited by now
                try:
                    directory.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def start_sync(*, database_url: str, store: str, cgroups: list[Path] | None, stderr) -> subprocess.Popen:
    command = [PYTHON, "manage.py", "sync_woocommerce", "--full", "--allow-mass-delete"]
    if cgroups is None:  # unlimited contrast run
        argv = command
    else:
        joins = " && ".join(f"echo $$ > {d / 'cgroup.procs'}" for d in cgroups)
        limited = ["nice", "-n", NICE, "ionice", "-c", IONICE_CLASS, *command]
        argv = ["sh", "-c", f'{joins + " && " if joins else ""}exec "$@"', "sh", *limited]
    return subprocess.Popen(
        argv,
        cwd=REPO,
        env=manage_env(database_url=database_url, WOOCOMMERCE_URL=store),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def scenario_with_sync(label, *, server, paths, args, database_url, store, cgroups):
    """Load for the whole life of one sync (from 1 s after its start until it exits)."""
    with tempfile.TemporaryFile() as stderr:
        sync = start_sync(database_url=database_url, store=store, cgroups=cgroups, stderr=stderr)
        started = time.monotonic()
        finished = threading.Event()
        ended_at: list[float] = []

        def wait_for_sync() -> None:
            sync.wait()
            ended_at.append(time.monotonic())
            finished.set()

        threading.Thread(target=wait_for_sync, daemon=True).start()
        time.sleep(1.0)  # past start-up, into the page loop
        load = open_loop(server.url, paths, rate=args.rate, seconds=args.max_sync_seconds, stop=finished)
        if not finished.wait(timeout=1800):
            sync.kill()
            finished.wait(timeout=30)
        stderr.seek(0)
        tail = stderr.read().decode("utf-8", "replace")[-400:]
    result = {
        "label": label,
        **load,
        "sync_exit": sync.returncode,
        "sync_seconds": round(ended_at[0] - started, 1) if ended_at else None,
        "sync_stderr_tail": tail if sync.returncode not in (0, 3) else "",
    }
    print(
        f"{label:<34} p50 {load['p50_ms']} ms  p90 {load['p90_ms']} ms  p99 {load['p99_ms']} ms  "
        f"errors {load['errors']}  load {load['loadavg_1m_before']}  "
        f"sync exit {sync.returncode} in {result['sync_seconds']}s, {load['requests_ok']} requests during it"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second (open loop)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each load window without a sync")
    parser.add_argument(
        "--max-sync-seconds",
        type=float,
        default=300.0,
        help="cap of a load window during a sync (it ends with the sync)",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--catalog",
        choices=["rewrite", "unchanged"],
        default="rewrite",
        help="rewrite: each sync mirrors a store with another seed (worst case: every row written, caches "
        "invalidated); unchanged: the store already mirrored (reads and compares everything, writes nothing)",
    )
    args = parser.parse_args()

    with (
        bench_database("crushme_bench_synclimits") as database_url,
        sandbox(products=args.products, seed=42) as store_a,
        sandbox(products=args.products, seed=7) as store_b,
    ):
        first = manage(
            "sync_woocommerce", "--full", "--allow-mass-delete", database_url=database_url, WOOCOMMERCE_URL=store_a
        )
        print(f"initial sync --full: exit {first.returncode}")
        env = gunicorn_env(
            DATABASE_URL=database_url,
            GUNICORN_WORKERS="2",
            GUNICORN_ACCESS_LOG="/dev/null",
            THROTTLE_RATE_ANON="100000000/hour",  # the benchmark is one client address
        )
        results = []
        stores = [store_b, store_a] if args.catalog == "rewrite" else [store_a, store_a]
        with running_gunicorn(env=env, workers=2) as server:
            paths = catalog_paths(server.url)
            open_loop(server.url, paths, rate=args.rate, seconds=3)  # warm the caches and the pool
            for round_number in range(args.rounds):
                base = open_loop(server.url, paths, rate=args.rate, seconds=args.seconds)
                results.append({"label": f"round {round_number + 1}: no sync", **base})
                print(
                    f"{results[-1]['label']:<34} p50 {base['p50_ms']} ms  p90 {base['p90_ms']} ms  "
                    f"p99 {base['p99_ms']} ms  errors {base['errors']}  load {base['loadavg_1m_before']}"
                )
                with unit_cgroups() as (cgroups, method):
                    results.append(
                        scenario_with_sync(
                            f"round {round_number + 1}: sync under unit limits",
                            server=server,
                            paths=paths,
                            args=args,
                            database_url=database_url,
                            store=stores[0],
                            cgroups=cgroups,
                        )
                    )
                    results[-1]["limits_method"] = method
                stores.reverse()
                results.append(
                    scenario_with_sync(
                        f"round {round_number + 1}: sync unlimited",
                        server=server,
                        paths=paths,
                        args=args,
                        database_url=database_url,
                        store=stores[0],
                        cgroups=None,
                    )
                )
                stores.reverse()
    print(f"limits reproduced with: {method}")
    path = write_result("sync-limits", {"args": vars(args), "results": results})
    print(f"raw results: {path}")


if __name__ == "__main__":
    main()
