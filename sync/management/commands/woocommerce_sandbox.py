"""``manage.py woocommerce_sandbox``: run the WooCommerce-compatible sandbox store until stopped."""

from __future__ import annotations

import gc
import ipaddress
import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sync.sandbox.catalog import SandboxCatalog
from sync.sandbox.server import SandboxServer


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Command(BaseCommand):
    help = (
        "Run a WooCommerce REST API v3 sandbox store (a test double) on loopback: a seeded, realistically "
        "messy generated catalog served with WooCommerce's OAuth 1.0a, pagination, errors and quirks, plus "
        "a JSON control interface under /__sandbox__/ to edit, sell, trash, delete and inject faults or "
        "latency while it runs. Used by the demo (make run), benchmarks and staging setups; point "
        "WOOCOMMERCE_URL/KEY/SECRET at it. Runs until SIGINT or SIGTERM."
        " Registered webhooks (POST /wp-json/wc/v3/webhooks) are delivered as WooCommerce 11 delivers them,"
        " signed, from a background queue (--webhook-interval)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8800, help="Port to bind; 0 picks a free one (default 8800).")
        parser.add_argument("--products", type=int, default=5000, help="Products to generate (default 5000).")
        parser.add_argument(
            "--variable-share",
            type=float,
            default=0.1,
            help="Share of products that are variable, 0..1 (default 0.1); each has 2-6 variations.",
        )
        parser.add_argument("--categories", type=int, default=30, help="Categories to generate (default 30).")
        parser.add_argument("--seed", type=int, default=42, help="Seed: the same seed gives the same catalog.")
        parser.add_argument(
            "--no-store-variations",
            action="store_true",
            help="Act as a store older than WooCommerce 10.3: GET /variations answers 404 rest_no_route.",
        )
        parser.add_argument(
            "--latency-ms", type=float, default=0, help="Delay added to every API response, in ms (default 0)."
        )
        parser.add_argument(
            "--webhook-interval",
            type=float,
            default=5.0,
            metavar="SECONDS",
            help="Send the pending webhook deliveries every SECONDS, as WP-Cron does every 60 s on a real store "
            "(default 5; 0 sends them only when POST /__sandbox__/webhooks/deliver asks).",
        )
        parser.add_argument(
            "--webhook-timeout",
            type=float,
            default=60.0,
            metavar="SECONDS",
            help="Give up on a webhook delivery after SECONDS, counting a failure (default 60, as WooCommerce).",
        )
        parser.add_argument(
            "--page-limit",
            type=int,
            default=None,
            metavar="N",
            help="Answer 504 (the proxy's gateway timeout) to listings asking for more than N items per page, "
            "as stores hitting their PHP time limit do (default: no limit).",
        )
        parser.add_argument(
            "--consumer-key", default=None, help="API consumer key (default: settings.WOOCOMMERCE_CONSUMER_KEY)."
        )
        parser.add_argument(
            "--consumer-secret",
            default=None,
            help="API consumer secret (default: settings.WOOCOMMERCE_CONSUMER_SECRET).",
        )
        parser.add_argument(
            "--site-url",
            default=None,
            help="Site URL that OAuth signatures are checked against (default http://HOST:PORT).",
        )
        parser.add_argument(
            "--allow-remote",
            action="store_true",
            help="Allow binding a non-loopback address. The sandbox is a test double: never expose it.",
        )

    def handle(self, *args: object, **options: object) -> None:
        host = str(options["host"])
        if not _is_loopback(host) and not options["allow_remote"]:
            raise CommandError(f"refusing to bind {host}: the sandbox is a test double; pass --allow-remote to insist")
        products = int(options["products"])  # type: ignore[arg-type]
        categories = int(options["categories"])  # type: ignore[arg-type]
        share = float(options["variable_share"])  # type: ignore[arg-type]
        if products < 0 or categories < 1 or not 0 <= share <= 1:
            raise CommandError("--products must be >= 0, --categories >= 1 and --variable-share within 0..1")
        webhook_interval = float(options["webhook_interval"])  # type: ignore[arg-type]
        webhook_timeout = float(options["webhook_timeout"])  # type: ignore[arg-type]
        if not 0 <= webhook_interval <= 3600 or not 0 < webhook_timeout <= 600:
            raise CommandError("--webhook-interval must be within 0..3600 and --webhook-timeout within 0..600 (> 0)")
        if options["page_limit"] is not None and options["page_limit"] < 1:
            raise CommandError("--page-limit must be >= 1")
        if int(options["verbosity"]) >= 2:  # type: ignore[arg-type]
            logging.getLogger("sync.sandbox").setLevel(logging.DEBUG)

        started = time.monotonic()
        catalog = SandboxCatalog.generate(
            products=products,
            variable_share=share,
            categories=categories,
            seed=int(options["seed"]),  # type: ignore[arg-type]
        )
        # A dedicated process holding millions of long-lived objects: take them out of the cyclic GC's
        # sight so full collections don't pause requests for a second (there are no cycles to find).
        gc.collect()
        gc.freeze()
        counts = catalog.counts()
        self.stdout.write(
            f"Generated {counts['products']} products, {counts['variations']} variations and "
            f"{counts['categories']} categories in {time.monotonic() - started:.1f} s (seed {options['seed']})."
        )
        server = SandboxServer(
            catalog,
            host=host,
            port=int(options["port"]),  # type: ignore[arg-type]
            consumer_key=str(options["consumer_key"] or settings.WOOCOMMERCE_CONSUMER_KEY),
            consumer_secret=str(options["consumer_secret"] or settings.WOOCOMMERCE_CONSUMER_SECRET),
            store_variations=not options["no_store_variations"],
            webhook_delivery_interval=webhook_interval or None,
            webhook_timeout=webhook_timeout,
            latency_ms=float(options["latency_ms"]),  # type: ignore[arg-type]
            page_limit=options["page_limit"],  # type: ignore[arg-type]
            site_url=options["site_url"] or None,  # type: ignore[arg-type]
        )
        try:
            server.start()
        except OSError as error:
            raise CommandError(f"cannot listen on {host}:{options['port']}: {error}") from error

        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        self.stdout.write(f"WooCommerce sandbox: {server.url}")
        self.stdout.write(f"Control interface: {server.control_url}")
        self.stdout.flush()
        try:
            stop.wait()
        finally:
            server.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("Sandbox stopped.")
