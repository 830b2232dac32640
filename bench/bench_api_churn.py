"""Issue 12's churn and round-trip scenarios of ``bench_api.py`` (``--only churn``, ``--only round``).

* **churn** — wrk mixes list, detail and facets answers (40/40/20 %) over a warm cache while a
  thread changes the stock of one random product every second the way the queue processor
  does: it writes the row (stock, status, ``date_modified_gmt``), then calls
  ``catalog_products_changed`` with the columns that changed. Rounds with and without churn
  alternate in one run; medians are reported, with the churn/no-churn throughput ratio. During the
  churn rounds a checker reads the answers showing the changed products (their details, and the
  mix's lists that showed them) and measures how old the stock they show is (the time since the
  mirror replaced the value shown): details must show it at once, lists within
  ``CATALOG_MAX_STALENESS_SECONDS`` (``--staleness``; a bound shorter than a round exercises it).
  A third kind of round bumps the global version at each change instead, as before issue 12.
* **round trip** — the cached list and detail with the throttle counted in the cache lookup's
  round trip (the default) against the throttle on its own (``BENCH_THROTTLE_APART=1``), rounds
  alternating between two servers.
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from typing import Any

PER_PAGE = 50
CHANGES_PER_SECOND = 1.0

_MIX_LUA = """
local lists = {%(lists)s}
local details = {%(details)s}
local facets = {%(facets)s}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  math.randomseed(7919 * id)
end
request = function()
  local r = math.random()
  local path
  if r < 0.4 then path = lists[math.random(#lists)]
  elseif r < 0.8 then path = details[math.random(#details)]
  else path = facets[math.random(#facets)] end
  return wrk.format("GET", path)
end
"""


def _mix(detail_ids: list[int]) -> dict[str, list[str]]:
    base = f"/api/products/?per_page={PER_PAGE}"
    lists = [f"{base}&page={page}" for page in range(1, 4)]
    lists += [f"{base}&orderby=price&order=asc&page={page}" for page in range(1, 3)]
    lists += [f"{base}&orderby=popularity&page={page}" for page in range(1, 3)]
    lists += [f"{base}&category=root-{root}" for root in range(5)]
    lists += [f"{base}&stock_status=instock&page={page}" for page in range(1, 3)]
    lists += [f"{base}&category=root-3&min_price=20&max_price=150&stock_status=instock&orderby=price&order=asc"]
    facets = ["/api/products/facets/", *(f"/api/products/facets/?category=root-{root}" for root in range(4))]
    return {"lists": lists, "details": [f"/api/products/{pid}/" for pid in detail_ids], "facets": facets}


def _lua(mix: dict[str, list[str]]) -> str:
    return _MIX_LUA % {kind: ", ".join(json.dumps(path) for path in paths) for kind, paths in mix.items()}


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


class StockHistory:
    """Each changed product's stock values with when the mirror took them (monotonic seconds)."""

    def __init__(self) -> None:
        self.values: dict[int, list[tuple[float, int | None]]] = defaultdict(list)
        self.lock = threading.Lock()

    def record(self, product_id: int, *, before: int | None, after: int, at: float) -> None:
        with self.lock:
            if not self.values[product_id]:
                self.values[product_id].append((float("-inf"), before))
            self.values[product_id].append((at, after))

    def staleness(self, product_id: int, shown: int | None, seen_at: float) -> float | None:
        """Seconds between the mirror replacing the value ``shown`` and ``seen_at`` (0: current);
        None for a product that never changed, or a value it never had (reported apart)."""
        with self.lock:
            history = list(self.values.get(product_id, ()))
        if not history:
            return None
        for index in range(len(history) - 1, -1, -1):
            at, value = history[index]
            if at <= seen_at and value == shown:
                if index == len(history) - 1:
                    return 0.0
                return max(0.0, seen_at - history[index + 1][0])
        return float("inf")


class Churn(threading.Thread):
    """One stock change per second on a random product among ``product_ids``, as the queue applies it."""

    def __init__(self, product_ids: list[int], history: StockHistory, *, seed: int, global_bump: bool = False) -> None:
        super().__init__(daemon=True)
        self.product_ids = product_ids
        self.global_bump = global_bump  # the invalidation before issue 12: every change empties everything
        self.history = history
        self.rng = random.Random(seed)  # the caller's seed differs per run: the catalog is reused
        self.stop = threading.Event()
        self.changes = 0
        self.errors: list[str] = []

    def run(self) -> None:
        from django.db import connection
        from django.utils import timezone

        from catalog.cache import catalog_products_changed, catalog_version_bump
        from catalog.models import Product

        try:
            next_at = time.monotonic()
            while not self.stop.wait(max(0.0, next_at - time.monotonic())):
                next_at += 1 / CHANGES_PER_SECOND
                product_id = self.rng.choice(self.product_ids)
                before_quantity, before_status = Product.objects.values_list("stock_quantity", "stock_status").get(
                    id=product_id
                )
                quantity = 0 if self.rng.random() < 0.2 else self.rng.randrange(1, 100_000)
                if before_quantity is not None and quantity == int(before_quantity):
                    quantity += 1  # a change, whatever an earlier run left in the reused catalog
                status = "instock" if quantity else "outofstock"
                now = timezone.now()
                Product.objects.filter(id=product_id).update(
                    stock_quantity=quantity, stock_status=status, date_modified_gmt=now, synced_at=now, updated_at=now
                )
                self.history.record(
                    product_id,
                    before=None if before_quantity is None else int(before_quantity),
                    after=quantity,
                    at=time.monotonic(),
                )
                # What the queue processor passes after a webhook's upsert: the columns that changed.
                fields = {"stock_quantity", "date_modified_gmt"} | (
                    {"stock_status"} if status != before_status else set()
                )
                if self.global_bump:
                    catalog_version_bump()
                else:
                    catalog_products_changed(product_ids=[product_id], fields=fields)
                self.changes += 1
        except Exception as error:  # noqa: BLE001 - reported with the figures, never hidden
            self.errors.append(f"{type(error).__name__}: {error}")
        finally:
            connection.close()


class Checker(threading.Thread):
    """Reads the answers that show the products changed so far (each one's detail, and a list of the
    mix that showed it when the round began) and records the age of the stock each one shows."""

    def __init__(self, base_url: str, lists_of: dict[int, list[str]], history: StockHistory, *, seed: int) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.lists_of = lists_of
        self.history = history
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.worst = {"list": 0.0, "detail": 0.0}
        self.checked = {"list": 0, "detail": 0}
        self.older = {"list": 0, "detail": 0}  # checks that showed a value the mirror had replaced
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.wait(0.05):
            with self.history.lock:
                changed = list(self.history.values)
            if not changed:
                continue
            product_id = self.rng.choice(changed)
            paths = [f"/api/products/{product_id}/"]
            if self.lists_of.get(product_id):
                paths.append(self.rng.choice(self.lists_of[product_id]))
            for path in paths:
                kind = "list" if "?" in path else "detail"
                try:
                    body = _get_json(self.base_url + path)
                except OSError as error:
                    self.errors.append(f"{path}: {error}")
                    continue
                seen_at = time.monotonic()
                for product in body["results"] if kind == "list" else [body]:
                    age = self.history.staleness(product["id"], product["stock_quantity"], seen_at)
                    if age is not None:
                        self.checked[kind] += 1
                        self.older[kind] += age > 0
                        self.worst[kind] = max(self.worst[kind], age)


def _median(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def churn_scenarios(
    *,
    server_factory: Callable[..., Any],
    env: dict[str, str],
    run: dict[str, int],
    wrk: Callable[..., dict[str, float]],
    only: Callable[[dict[str, str]], dict[str, str]],
    rounds: int,
    staleness_bound: float,
) -> tuple[dict[str, dict[str, Any]], dict[str, float], list[tuple[str, float | None, float, str]]]:
    """Run the selected scenarios; returns (results by name, ratios, targets as (name, value, bound, op))."""
    from catalog.models import Product

    results: dict[str, dict[str, Any]] = {}
    summary: dict[str, float] = {}
    targets: list[tuple[str, float | None, float, str]] = []
    selected = only({"churn": "", "round trip": ""})
    from bench.bench_api import scratch_dir  # bench_api imports this module when it runs

    if "churn" in selected:
        rng = random.Random(42)
        simple = list(
            Product.objects.filter(status="publish", type="simple", manage_stock=True).values_list("id", flat=True)
        )
        detail_ids = sorted(rng.sample(simple, min(200, len(simple))))
        mix = _mix(detail_ids)
        script = scratch_dir() / f"bench-api-churn-{rng.randrange(1 << 30)}.lua"
        script.write_text(_lua(mix))
        server = server_factory(env, "churn")
        calm: list[dict[str, float]] = []
        churning: list[dict[str, float]] = []
        global_bumps: list[dict[str, float]] = []
        checks: list[dict[str, Any]] = []
        try:
            all_paths = [*mix["lists"], *mix["details"], *mix["facets"]]
            # The churn touches the products the mix shows (its details and its lists' first pages): the
            # pessimistic case, in which most changes orphan or age an answer being read.
            lists_of: dict[int, list[str]] = defaultdict(list)
            churnable = set(simple)
            for path in mix["lists"]:
                for product in _get_json(server.url + path)["results"]:
                    if product["id"] in churnable:
                        lists_of[product["id"]].append(path)
            hot_ids = sorted(set(detail_ids) | set(lists_of))
            for number in range(rounds):
                for kind in ("calm", "churn", "global"):
                    server.drain()
                    for path in all_paths:
                        server.get(path)  # warm: every kind of round starts from the same cache
                    if kind == "calm":
                        calm.append(wrk(server.url + "/", script=str(script), **run))
                        continue
                    history = StockHistory()
                    changer = Churn(hot_ids, history, seed=time.time_ns(), global_bump=kind == "global")
                    checker = Checker(server.url, lists_of, history, seed=number)
                    changer.start()
                    checker.start()
                    try:
                        figures = wrk(server.url + "/", script=str(script), **run)
                    finally:
                        changer.stop.set()
                        checker.stop.set()
                        changer.join(timeout=30)
                        checker.join(timeout=30)
                    figures["changes"] = changer.changes
                    if kind == "global":
                        global_bumps.append(figures)
                        print(f"churn round {number + 1}: global bumps {figures}", flush=True)
                        continue
                    churning.append(figures)
                    checks.append(
                        {
                            "worst_list_s": checker.worst["list"],
                            "worst_detail_s": checker.worst["detail"],
                            "checked": dict(checker.checked),
                            "older": dict(checker.older),
                            "errors": changer.errors + checker.errors[:3],
                        }
                    )
                    print(f"churn round {number + 1}: calm {calm[-1]} | churn {figures} | {checks[-1]}", flush=True)
        finally:
            server.stop()
            script.unlink(missing_ok=True)
        for name, figures in (
            ("mix cached, no churn", calm),
            ("mix cached, churn 1/s", churning),
            ("mix cached, churn 1/s, global bump (before)", global_bumps),
        ):
            results[name] = {
                "rps": _median(figures, "rps"),
                "p50_ms": _median(figures, "p50_ms"),
                "p99_ms": _median(figures, "p99_ms"),
                "non_2xx": sum(f["non_2xx"] for f in figures),
                "rounds": [round(f["rps"]) for f in figures],
            }
        worst_list = max(c["worst_list_s"] for c in checks)
        worst_detail = max(c["worst_detail_s"] for c in checks)
        summary["churn / no churn (median req/s)"] = (
            results["mix cached, churn 1/s"]["rps"] / results["mix cached, no churn"]["rps"]
        )
        summary["churn with global bumps / no churn (median req/s)"] = (
            results["mix cached, churn 1/s, global bump (before)"]["rps"] / results["mix cached, no churn"]["rps"]
        )
        summary["oldest stock shown by a list (s)"] = worst_list
        summary["oldest stock shown by a detail (s)"] = worst_detail
        results["mix cached, churn 1/s"]["stock values checked in lists"] = sum(c["checked"]["list"] for c in checks)
        results["mix cached, churn 1/s"]["stock values checked in details"] = sum(
            c["checked"]["detail"] for c in checks
        )
        results["mix cached, churn 1/s"]["older values shown by lists"] = sum(c["older"]["list"] for c in checks)
        results["mix cached, churn 1/s"]["older values shown by details"] = sum(c["older"]["detail"] for c in checks)
        targets += [
            ("churn / no churn", summary["churn / no churn (median req/s)"], 0.5, ">="),
            ("p99 ms under churn", results["mix cached, churn 1/s"]["p99_ms"], 100.0, "<="),
            ("oldest stock shown by a list, s", worst_list, staleness_bound, "<="),
        ]
        if any(c["errors"] for c in checks):
            print(f"churn errors: {[c['errors'] for c in checks]}", flush=True)

    if "round trip" in selected:
        combined = server_factory(env, "one-round-trip")
        try:
            apart = server_factory({**env, "BENCH_THROTTLE_APART": "1"}, "throttle-apart")
        except RuntimeError:
            combined.stop()
            raise
        detail_id = Product.objects.filter(type="variable").order_by("id").values_list("id", flat=True).first()
        paths = {"list": f"/api/products/?per_page={PER_PAGE}", "detail": f"/api/products/{detail_id}/"}
        figures: dict[str, list[dict[str, float]]] = defaultdict(list)
        try:
            for server in (combined, apart):
                for path in paths.values():
                    server.get(path)
            for _ in range(rounds):
                for what, path in paths.items():
                    for label, server in (("one round trip", combined), ("throttle apart", apart)):
                        server.drain()
                        figures[f"{what} cached, {label}"].append(wrk(server.url + path, **run))
        finally:
            combined.stop()
            apart.stop()
        for name, rounds_figures in figures.items():
            results[name] = {
                "rps": _median(rounds_figures, "rps"),
                "p50_ms": _median(rounds_figures, "p50_ms"),
                "p99_ms": _median(rounds_figures, "p99_ms"),
                "non_2xx": sum(f["non_2xx"] for f in rounds_figures),
                "rounds": [round(f["rps"]) for f in rounds_figures],
            }
        for what in paths:
            one, two = results[f"{what} cached, one round trip"], results[f"{what} cached, throttle apart"]
            summary[f"{what}: one round trip / throttle apart (median req/s)"] = one["rps"] / two["rps"]
    return results, summary, targets
