"""manage.py woocommerce_webhooks: install, check and re-activate the store's webhooks for the sync queue.

--check runs from a daily timer (deploy/systemd/crushme-webhooks-check.timer).
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandParser

from common.commands import DocumentedExitCodesCommand
from sync.services.webhook_setup import webhooks_check, webhooks_install, webhooks_reactivate
from sync.woocommerce.client import WooCommerceClient, WooCommerceError

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_WOOCOMMERCE = 4

EXIT_CODES_HELP = f"""
exit codes:
  {EXIT_OK}   done; --check: every webhook is active and delivers to the URL
  {EXIT_PROBLEMS}   --check: a webhook is missing, paused, disabled or delivers elsewhere (listed)
  {EXIT_USAGE}   usage error (no delivery URL, no secret)
  {EXIT_WOOCOMMERCE}   WooCommerce refused or could not be reached (check the key: it needs read/write)
"""


class Command(DocumentedExitCodesCommand):
    exit_codes_help = EXIT_CODES_HELP
    help = (
        "Manage the WooCommerce webhooks that feed the sync queue (topics product.created/updated/deleted/"
        "restored, order.created/updated). --install creates the missing ones and points every one at the "
        "delivery URL with WOOCOMMERCE_WEBHOOK_SECRET (idempotent); --check lists them and exits 1 when one "
        "is missing, not active or delivering elsewhere (a daily timer runs it); --reactivate sets them active "
        "again. The delivery URL is --delivery-url or WOOCOMMERCE_WEBHOOK_DELIVERY_URL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_mutually_exclusive_group(required=True)
        actions.add_argument("--install", action="store_true", help="Create or update the webhooks (idempotent).")
        actions.add_argument("--check", action="store_true", help="List the webhooks; exit 1 if one is not right.")
        actions.add_argument("--reactivate", action="store_true", help="Set disabled or paused webhooks active.")
        parser.add_argument(
            "--delivery-url",
            default=None,
            metavar="URL",
            help="The receiver, e.g. https://catalog.example.com/api/webhooks/woocommerce/ "
            "(default: WOOCOMMERCE_WEBHOOK_DELIVERY_URL).",
        )

    def handle(self, *args, **options) -> None:
        delivery_url = options["delivery_url"] or settings.WOOCOMMERCE_WEBHOOK_DELIVERY_URL
        if not delivery_url:
            self._exit(EXIT_USAGE, "no delivery URL: pass --delivery-url or set WOOCOMMERCE_WEBHOOK_DELIVERY_URL")
        try:
            with WooCommerceClient.from_settings() as client:
                if options["install"]:
                    self._install(client, delivery_url)
                elif options["check"]:
                    self._check(client, delivery_url)
                else:
                    self._reactivate(client, delivery_url)
        except WooCommerceError as error:
            self._exit(EXIT_WOOCOMMERCE, f"{type(error).__name__}: {error}")
        except ValueError as error:  # a WOOCOMMERCE_* setting the client cannot use (its message names it)
            self._exit(EXIT_USAGE, f"WooCommerce is misconfigured: {error}")

    def _install(self, client: WooCommerceClient, delivery_url: str) -> None:
        secret = settings.WOOCOMMERCE_WEBHOOK_SECRET
        if not secret:
            self._exit(EXIT_USAGE, "WOOCOMMERCE_WEBHOOK_SECRET is not set: the webhooks need it to sign deliveries")
        result = webhooks_install(client=client, delivery_url=delivery_url, secret=secret)
        self.stdout.write(
            f"woocommerce_webhooks --install: {len(result.created)} created {result.created} · "
            f"{len(result.updated)} updated {result.updated} (delivery URL and secret) · to {delivery_url}"
        )
        if result.duplicates:
            self.stderr.write(
                f"duplicate webhooks for the same topics, left alone (delete them in WooCommerce): {result.duplicates}"
            )

    def _check(self, client: WooCommerceClient, delivery_url: str) -> None:
        states = webhooks_check(client=client, delivery_url=delivery_url)
        for state in states:
            line = f"{state.topic:18} #{state.id or '-':<6} {state.status:9} {state.delivery_url}"
            self.stdout.write(self.style.ERROR(f"{line}  <- {state.problem}") if state.problem else line)
        problems = [state for state in states if state.problem]
        if problems:
            self._exit(EXIT_PROBLEMS, f"{len(problems)} webhook(s) need attention (see above)")
        self.stdout.write(self.style.SUCCESS(f"all {len(states)} webhooks are active and deliver to {delivery_url}"))

    def _reactivate(self, client: WooCommerceClient, delivery_url: str) -> None:
        ids = webhooks_reactivate(client=client, delivery_url=delivery_url)
        self.stdout.write(f"woocommerce_webhooks --reactivate: {len(ids)} set active {ids}")
        if ids:
            self.stderr.write(
                "warning: WooCommerce keeps each webhook's failure count until a delivery succeeds, so the next "
                "failed delivery disables it again: make sure the receiver answers first (curl the delivery URL, "
                "check nginx and the crushme service)."
            )

    def _exit(self, code: int, message: str) -> None:
        self.stderr.write(f"woocommerce_webhooks: {message}")
        raise SystemExit(code)
