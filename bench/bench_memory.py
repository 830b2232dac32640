"""Worker RSS idle and after 10,000 requests (gevent and sync workers), and max_requests recycling.

    make bench-memory
    # or: DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/bench_memory.py
    # what max_requests costs and bounds (docs/performance.md, "Worker recycling"):
    make bench-memory BENCH_MEMORY_ARGS="--recycling 0+0,1000+50,20000+2000 --requests 50000"

A fresh database is filled from the WooCommerce sandbox by ``sync_woocommerce --full``; then, for each
configuration, this project's gunicorn (gunicorn_config.py) serves a mix of catalog API paths to 16
keep-alive clients on loopback. RSS is read with psutil from the worker processes. Figures go into
docs/performance.md by hand; the raw numbers are written to bench/results/.

``--recycling M+J,...`` compares ``GUNICORN_MAX_REQUESTS=M`` / ``_JITTER=J`` on 2 gevent workers, one
configuration after the other in the same run: first an open loop at ``--rate`` requests/s for
``--rate-seconds`` (a realistic rate; latency counted from each request's scheduled time, so a stalled
worker shows), then ``--requests`` GETs from 16 clients as fast as they go (throughput, p99, and the
workers' RSS every ``--sample-every`` requests).
"""

import argparse
import http.client
import itertools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psutil
from bench_sync_limits import open_loop, percentile
from deploy_harness import (
    bench_database,
    catalog_paths,
    gunicorn_env,
    http_get,
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


def drive(
    port: int,
    paths: list[str],
    *,
    total: int,
    clients: int,
    on_progress: Callable[[int], None] | None = None,
    sample_every: int = 0,
) -> dict:
    """Send ``total`` GETs over ``clients`` keep-alive connections; count statuses, time each request.

    ``on_progress(done)`` is called (from a client thread) every ``sample_every`` completed requests."""
    counter = itertools.count()
    completed = itertools.count(1)
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (n := next(counter)) < total:
            path = paths[(n * 7 + index) % len(paths)]
            sent = time.monotonic()
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
            elapsed_ms = (time.monotonic() - sent) * 1000
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                latencies.append(elapsed_ms)
                done = next(completed)
            if on_progress is not None and sample_every and done % sample_every == 0:
                on_progress(done)
        conn.close()

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, range(clients)))
    seconds = time.monotonic() - start
    return {
        "seconds": round(seconds, 1),
        "requests_per_second": round(total / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "p999_ms": round(percentile(latencies, 0.999), 1),
        "max_ms": round(max(latencies), 1),
        "statuses": statuses,
    }


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


def measure_recycling(*, max_requests: str, jitter: str, env: dict[str, str], args: argparse.Namespace) -> dict:
    """One recycling configuration on 2 gevent workers: an open loop at a realistic rate, then a
    closed loop of ``args.requests`` with the workers' RSS sampled as it goes."""
    label = f"max_requests={max_requests}+{jitter}"
    env = {
        **env,
        "GUNICORN_WORKERS": "2",
        "GUNICORN_MAX_REQUESTS": max_requests,
        "GUNICORN_MAX_REQUESTS_JITTER": jitter,
    }
    with running_gunicorn(env=env, workers=2) as server:
        paths = catalog_paths(server.url)
        for path in paths:  # every response cached, both workers past their first requests
            http_get(server.url + path, timeout=30)
        time.sleep(2)
        booted_before = len(server.booted_worker_pids())
        realistic = open_loop(server.url, paths, rate=args.rate, seconds=args.rate_seconds)
        realistic["workers_booted"] = len(server.booted_worker_pids()) - booted_before
        samples: list[dict] = []

        def sample(done: int) -> None:
            rss = worker_rss(server.master_pid)
            samples.append(
                {"requests": done, "rss_mb": sorted(rss.values()), "workers_booted": len(server.booted_worker_pids())}
            )

        sample(0)
        booted_before = len(server.booted_worker_pids())
        load = drive(
            server.port, paths, total=args.requests, clients=16, on_progress=sample, sample_every=args.sample_every
        )
        load["workers_booted"] = len(server.booted_worker_pids()) - booted_before
    peak = max(max(s["rss_mb"]) for s in samples)
    print(
        f"{label:<26} at {args.rate:g}/s: p50 {realistic['p50_ms']} p99 {realistic['p99_ms']} "
        f"max {realistic['max_ms']} ms, "
        f"{realistic['workers_booted']} workers booted, errors {realistic['errors']}"
    )
    print(
        f"{'':<26} saturated: {load['requests_per_second']} req/s, p50 {load['p50_ms']} p99 {load['p99_ms']} "
        f"p99.9 {load['p999_ms']} max {load['max_ms']} ms, {load['workers_booted']} workers booted, "
        f"{load['statuses']}; worker RSS peak {peak} MB"
    )
    for s in samples:
        print(f"{'':<28}after {s['requests']:>6} requests: RSS {s['rss_mb']} MB")
    return {"label": label, "realistic": realistic, "saturated": load, "rss_samples": samples, "rss_peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument(
        "--recycling",
        default="",
        metavar="M+J,...",
        help="compare these max_requests+jitter configurations instead of the worker-memory runs",
    )
    parser.add_argument("--rate", type=float, default=100, help="open-loop requests/s of --recycling (default 100)")
    parser.add_argument("--rate-seconds", type=float, default=40, help="open-loop seconds of --recycling (default 40)")
    parser.add_argument("--sample-every", type=int, default=5000, help="RSS sample interval of --recycling")
    args = parser.parse_args()

    with bench_database("crushme_bench_memory") as database_url, sandbox(products=args.products) as store:
        sync = manage("sync_woocommerce", "--full", database_url=database_url, WOOCOMMERCE_URL=store)
        print(f"sync --full: exit {sync.returncode}")
        base = {
            "DATABASE_URL": database_url,
            "THROTTLE_RATE_ANON": "100000000/hour",  # the benchmark is one client address
            "GUNICORN_ACCESS_LOG": "/dev/null",
        }
        if args.recycling:
            print(f"load average before: {os.getloadavg()}")
            results = [
                measure_recycling(max_requests=m, jitter=j, env=gunicorn_env(**base), args=args)
                for m, _, j in (item.strip().partition("+") for item in args.recycling.split(","))
            ]
            print(f"load average after: {os.getloadavg()}")
            path = write_result(
                "recycling",
                {"products": args.products, "rate": args.rate, "requests": args.requests, "results": results},
            )
            print(f"raw results: {path}")
            return
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
                label="gevent, 2 workers, max_requests=1000+50",
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
