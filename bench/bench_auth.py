"""What wrong credentials cost the other clients (``make bench-auth``; issue 8, item 2).

One gevent gunicorn worker (gunicorn_config.py, the psycopg pool, Redis) serves a cached endpoint.
A "victim" client asks for it in a loop while 16 "attacker" clients hammer the same endpoint:

* ``quiet``         — no attackers: the victim's latency alone;
* ``anonymous``     — attackers send plain anonymous requests: what any traffic costs;
* ``basic``         — attackers send ``Authorization: Basic`` with a wrong password (Basic is off: ignored);
* ``basic-on``      — the same, with DRF's BasicAuthentication back on (before issue 8; the baseline);
* ``wrong-token``   — attackers send wrong ``Authorization: Token`` values (throttled per client after 20).

The user the attackers guess exists and has a real PBKDF2 password (the base settings' hasher).
Printed: the victim's p50/p99 and the attackers' request rate per scenario, and ratios against
``anonymous`` measured in the same run.

Usage::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crushme REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/bench_auth.py [--duration 8] [--attackers 16]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.deploy_harness import bench_database, gunicorn_env, manage, running_gunicorn, write_result

PATH = "/api/categories/"
WRONG_BASIC = "Basic " + base64.b64encode(b"staff:wrong-password").decode()


def _get(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_scenario(base: str, *, attackers: int, headers: dict[str, str] | None, duration: float) -> dict:
    stop = threading.Event()
    attacker_statuses: list[int] = []

    def attack(index: int) -> None:
        while not stop.is_set():
            # wrong tokens differ per request, as a guesser's would
            sent = {k: v.replace("{n}", f"{index:02d}{len(attacker_statuses):038d}") for k, v in headers.items()}
            attacker_statuses.append(_get(base + PATH, sent))

    count = 0 if headers is None else attackers
    threads = [threading.Thread(target=attack, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    time.sleep(0.5 if threads else 0)  # let the attack reach its pace
    latencies: list[float] = []
    victim_statuses: set[int] = set()
    started = time.monotonic()
    while time.monotonic() - started < duration:
        t0 = time.perf_counter()
        victim_statuses.add(_get(base + PATH, {}))
        latencies.append((time.perf_counter() - t0) * 1000)
    elapsed = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return {
        "victim_requests": len(latencies),
        "victim_statuses": sorted(victim_statuses),
        "victim_p50_ms": round(statistics.median(latencies), 1),
        "victim_p99_ms": round(_percentile(latencies, 0.99), 1),
        "attacker_requests_per_s": round(len(attacker_statuses) / (elapsed + 0.5), 1) if threads else 0,
        "attacker_statuses": {str(s): attacker_statuses.count(s) for s in sorted(set(attacker_statuses))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds the victim is measured per scenario")
    parser.add_argument("--attackers", type=int, default=16, help="concurrent attacking clients")
    args = parser.parse_args()

    scenarios = [
        ("quiet", "0", None),
        ("anonymous", "0", {}),
        ("basic", "0", {"Authorization": WRONG_BASIC}),
        ("basic-on", "1", {"Authorization": WRONG_BASIC}),
        ("wrong-token", "0", {"Authorization": "Token {n}"}),
    ]
    results: dict[str, dict] = {}
    with bench_database("crushme_bench_auth") as database_url:
        created = manage(
            "shell",
            "--no-imports",
            "-c",
            "from django.contrib.auth import get_user_model; "
            "get_user_model().objects.create_user('staff', password='the-right-password-123', is_staff=True)",
            database_url=database_url,
        )
        if created.returncode != 0:
            raise SystemExit(created.stderr)
        for name, basic_on, headers in scenarios:
            env = gunicorn_env(
                DATABASE_URL=database_url,
                DJANGO_SETTINGS_MODULE="bench.bench_auth_settings",
                BENCH_BASIC_AUTH=basic_on,
                GUNICORN_WORKERS="1",
            )
            with running_gunicorn(env=env) as server:
                _get(server.url + PATH, {})  # warm the cache
                results[name] = run_scenario(
                    server.url, attackers=args.attackers, headers=headers, duration=args.duration
                )
            row = results[name]
            print(
                f"{name:12s} victim p50 {row['victim_p50_ms']:7.1f} ms  p99 {row['victim_p99_ms']:7.1f} ms  "
                f"({row['victim_requests']} requests, {row['victim_statuses']})  "
                f"attackers {row['attacker_requests_per_s']:6.1f} req/s {row['attacker_statuses']}",
                flush=True,
            )
    reference = results["anonymous"]
    print(f"\nratios against 'anonymous' ({args.attackers} attackers sending plain requests):")
    for name in ("basic", "basic-on", "wrong-token"):
        row = results[name]
        print(
            f"  {name:12s} victim p50 x{row['victim_p50_ms'] / reference['victim_p50_ms']:.2f}  "
            f"p99 x{row['victim_p99_ms'] / reference['victim_p99_ms']:.2f}"
        )
    print("result file:", write_result("bench-auth", {"args": vars(args), "results": results}))


if __name__ == "__main__":
    main()
