"""Worker RSS idle and after 10,000 requests (gevent and sync workers), and max_requests recycling.

    make bench-memory
    # or: DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/bench_memory.py

A fresh database is filled from the WooCommerce sandbox by ``sync_woocommerce --full``; then, for each
configuration, this project's gunicorn (gunicorn_config.py) serves a mix of catalog API paths to 16
keep-alive clients on loopback. RSS is read with psutil from the worker processes. Figures go into
docs/performance.md by hand; the raw numbers are written to bench/results/.
"""

import argparse
import http.client
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
from deploy_harness import (
    bench_database,
    catalog_paths,
    gunicorn_env,
    manage,
    running_gunicorn,
    sandbox,
    write_result,
)

MB = 1024 * 1024


def worker_rss(master_pid: int) -> dict[int, float]:
    return {
        child.pid: round(child.memory_info().rss / MB, 1)
        for child in psutil.Process(master_pid).children()
        if child.is_running()
    }


def drive(port: int, paths: list[str], *, total: int, clients: int) -> dict:
    """Send ``total`` GETs over ``clients`` keep-alive connections; count statuses and answering pids."""
    counter = itertools.count()
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (n := next(counter)) < total:
            path = paths[(n * 7 + index) % len(paths)]
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
        conn.close()

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, range(clients)))
    return {"seconds": round(time.monotonic() - start, 1), "statuses": statuses}


def measure(*, label: str, env: dict[str, str], workers: int, paths_from: list[str] | None, total: int) -> dict:
    with running_gunicorn(env=env, workers=workers) as server:
        time.sleep(2)  # let the freshly booted workers settle
        idle = worker_rss(server.master_pid)
        paths = paths_from or catalog_paths(server.url)
        load = drive(server.port, paths, total=total, clients=16)
        time.sleep(1)
        after = worker_rss(server.master_pid)
        booted = server.booted_worker_pids()
    result = {
        "label": label,
        "idle_rss_mb": idle,
        "after_rss_mb": after,
        "requests": total,
        "load": load,
        "workers_booted": len(booted),
    }
    print(
        f"{label:<42} idle {sorted(idle.values())} MB   after {total} requests {sorted(after.values())} MB   "
        f"{load['seconds']}s {load['statuses']}   workers booted {len(booted)}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=10_000)
    args = parser.parse_args()

    with bench_database("crushme_bench_memory") as database_url, sandbox(products=args.products) as store:
        sync = manage("sync_woocommerce", "--full", database_url=database_url, WOOCOMMERCE_URL=store)
        print(f"sync --full: exit {sync.returncode}")
        base = {
            "DATABASE_URL": database_url,
            "THROTTLE_RATE_ANON": "100000000/hour",  # the benchmark is one client address
            "GUNICORN_ACCESS_LOG": "/dev/null",
        }
        results = [
            measure(
                label="gevent, 1 worker, max_requests=0",
                env=gunicorn_env(**base, GUNICORN_WORKER_CLASS="gevent"),
                workers=1,
                paths_from=None,
                total=args.requests,
            ),
            measure(
                label="sync, 1 worker, max_requests=0",
                env=gunicorn_env(**base, GUNICORN_WORKER_CLASS="sync", DB_POOL_ENABLED="false"),
                workers=1,
                paths_from=None,
                total=args.requests,
            ),
            measure(
                label="gevent, 2 workers, max_requests=1000+50 (defaults)",
                env=gunicorn_env(
                    **base, GUNICORN_WORKERS="2", GUNICORN_MAX_REQUESTS="1000", GUNICORN_MAX_REQUESTS_JITTER="50"
                ),
                workers=2,
                paths_from=None,
                total=args.requests,
            ),
        ]
    path = write_result("memory", {"products": args.products, "results": results})
    print(f"raw results: {path}")


if __name__ == "__main__":
    main()
