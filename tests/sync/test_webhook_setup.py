"""manage.py woocommerce_webhooks against the sandbox store over real HTTP."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from sync.sandbox.control import SandboxControl
from sync.services.webhook_setup import WEBHOOK_TOPICS, webhooks_list
from sync.woocommerce.client import WooCommerceClient
from tests.sync.helpers import CommandResult
from tests.sync.webhook_samples import SAMPLE_SECRET

pytestmark = pytest.mark.django_db

# Nothing listens on the discard port: the creation pings fail fast, and WooCommerce ignores their result.
URL = "http://127.0.0.1:9/api/webhooks/woocommerce/"


def run(*args: str) -> CommandResult:
    stdout, stderr = StringIO(), StringIO()
    try:
        call_command("woocommerce_webhooks", *args, stdout=stdout, stderr=stderr)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return CommandResult(code=code, stdout=stdout.getvalue(), stderr=stderr.getvalue())


@pytest.fixture
def store(sandbox, settings):
    settings.WOOCOMMERCE_WEBHOOK_SECRET = SAMPLE_SECRET
    settings.WOOCOMMERCE_WEBHOOK_DELIVERY_URL = URL
    with SandboxControl(sandbox.url) as control:
        yield sandbox, control


def _hooks() -> list[dict]:
    with WooCommerceClient.from_settings() as client:
        return webhooks_list(client=client)


def test_install_twice_creates_the_webhooks_once(store):
    first = run("--install")
    second = run("--install")

    assert first.code == 0 and "6 created" in first.stdout
    assert second.code == 0 and "0 created" in second.stdout and "6 updated" in second.stdout
    hooks = _hooks()
    assert sorted(h["topic"] for h in hooks) == sorted(WEBHOOK_TOPICS)
    assert {h["status"] for h in hooks} == {"active"} and {h["delivery_url"] for h in hooks} == {URL}
    assert all("secret" not in h for h in hooks)  # never shown again


def test_check_passes_then_fails_for_a_webhook_the_store_disabled(store):
    _, control = store
    run("--install")
    assert run("--check").code == 0

    disabled = next(h for h in _hooks() if h["topic"] == "order.created")
    control.disable_webhook(disabled["id"])
    result = run("--check")

    assert result.code == 1
    assert f"order.created      #{disabled['id']}" in result.stdout and "disabled: run --reactivate" in result.stdout
    assert "1 webhook(s) need attention" in result.stderr


def test_check_fails_for_a_webhook_pointing_elsewhere_and_install_corrects_it(store):
    _, control = store
    run("--install")
    moved = next(h for h in _hooks() if h["topic"] == "product.updated")
    control.edit_webhook(moved["id"], delivery_url="https://old-host.example.com/hook")

    result = run("--check")
    assert result.code == 1 and "delivers to 'https://old-host.example.com/hook'" in result.stdout

    assert "0 created" in run("--install").stdout  # found by its name, not duplicated
    assert run("--check").code == 0
    assert len(_hooks()) == 6


def test_check_fails_for_a_missing_webhook(store):
    run("--install")
    gone = next(h for h in _hooks() if h["topic"] == "product.restored")
    with WooCommerceClient.from_settings() as client:
        client.write("DELETE", f"webhooks/{gone['id']}", params={"force": True})

    result = run("--check")

    assert result.code == 1 and "missing: run --install" in result.stdout


def test_reactivate_puts_them_back_and_warns_about_the_failure_count(store):
    _, control = store
    run("--install")
    for hook in _hooks()[:2]:
        control.disable_webhook(hook["id"])

    result = run("--reactivate")

    assert result.code == 0 and "2 set active" in result.stdout
    assert "keeps each webhook's failure count" in result.stderr
    assert {h["status"] for h in _hooks()} == {"active"}
    assert run("--check").code == 0


def test_usage_errors_and_an_unreachable_store(store, settings):
    sandbox, _ = store
    settings.WOOCOMMERCE_WEBHOOK_SECRET = ""
    assert run("--install").code == 2
    settings.WOOCOMMERCE_WEBHOOK_DELIVERY_URL = ""
    assert run("--check").code == 2

    sandbox.stop()
    result = run("--check", "--delivery-url", URL)
    assert result.code == 4 and "WooCommerceUnavailable" in result.stderr


def test_help_lists_the_actions_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("woocommerce_webhooks", "--help")
    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "--install" in text and "--check" in text and "--reactivate" in text and "exit codes" in text


def test_a_webhook_the_store_disabled_after_7_failed_deliveries_fails_the_check(store):
    sandbox, _ = store
    run("--install")  # delivering to a port where nothing listens: every delivery fails
    product_id = next(pid for pid, p in sandbox.catalog.products.items() if p["status"] == "publish")

    for n in range(7):
        sandbox.catalog.edit_product(product_id, regular_price=f"{10 + n}.00")
        sandbox.deliver_webhooks()
    result = run("--check")

    assert result.code == 1
    assert "product.updated    " in result.stdout and "disabled: run --reactivate" in result.stdout
    assert run("--reactivate").code == 0
    # WooCommerce kept the failure count: the next failure disables it again.
    sandbox.catalog.edit_product(product_id, regular_price="99.00")
    sandbox.deliver_webhooks()
    assert run("--check").code == 1


def test_a_setting_the_client_cannot_use_is_a_usage_error_naming_it(store, settings):
    settings.WOOCOMMERCE_CONSUMER_SECRET = ""

    result = run("--check")

    assert result.code == 2
    assert "misconfigured" in result.stderr and "WOOCOMMERCE_CONSUMER_SECRET" in result.stderr
