"""Throttling by role with Retry-After; client IP behind nginx; health and schema exempt."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from common.throttling import parse_rate

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    def set_rates(**rates: str | None) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"anon": "3/hour", "user": "5/hour", "staff": "7/hour", **rates},
        }

    set_rates()
    return set_rates


def _statuses(client, n: int, **extra) -> list[int]:
    return [client.get("/api/categories/", **extra).status_code for _ in range(n)]


def test_anonymous_clients_get_429_with_retry_after(client, rates):
    statuses = _statuses(client, 4)
    response = client.get("/api/categories/")

    assert statuses == [200, 200, 200, 429]
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert response.json()["code"] == "rest_throttled"
    assert response["Cache-Control"] == "no-store"


def test_users_and_staff_have_their_own_rates(client, rates):
    user = get_user_model().objects.create_user("user", password="pw")
    staff = get_user_model().objects.create_user("staff", password="pw", is_staff=True)

    client.force_login(user)
    user_statuses = _statuses(client, 6)
    client.force_login(staff)
    staff_statuses = _statuses(client, 8)

    assert user_statuses == [200] * 5 + [429]
    assert staff_statuses == [200] * 7 + [429]


def test_client_ip_comes_from_x_forwarded_for_behind_one_proxy(client, rates, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    first = _statuses(client, 4, HTTP_X_FORWARDED_FOR="203.0.113.5", REMOTE_ADDR="127.0.0.1")
    # A spoofed left-most entry does not give a new identity: nginx appends the real client.
    spoofed = _statuses(client, 1, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5", REMOTE_ADDR="127.0.0.1")
    other = _statuses(client, 1, HTTP_X_FORWARDED_FOR="198.51.100.7", REMOTE_ADDR="127.0.0.1")

    assert first == [200, 200, 200, 429]
    assert spoofed == [429]
    assert other == [200]


def test_without_proxies_the_socket_address_is_used(client, rates, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}

    statuses = [
        client.get("/api/categories/", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}", REMOTE_ADDR="192.0.2.1").status_code
        for i in range(4)
    ]

    assert statuses == [200, 200, 200, 429]


def test_a_scope_set_to_none_is_not_throttled(client, rates):
    rates(anon=None)

    assert _statuses(client, 5) == [200] * 5


def test_health_and_schema_are_not_throttled(client, rates):
    rates(anon="1/hour")

    schema = [client.get("/api/schema/").status_code for _ in range(3)]
    health = [client.get("/api/health/").status_code for _ in range(3)]

    assert schema == [200, 200, 200]
    assert 429 not in health


def test_cached_responses_are_throttled_too(client, rates):
    rates(anon="2/hour")

    assert [client.get("/api/products/").status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize(
    ("rate", "parsed"), [("100/hour", (100, 3600)), ("5/s", (5, 1)), ("10/min", (10, 60)), ("1/day", (1, 86400))]
)
def test_parse_rate(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["100", "x/hour", "10/fortnight", "10/"])
def test_parse_rate_rejects_nonsense(rate):
    with pytest.raises(ValueError, match="invalid throttle rate"):
        parse_rate(rate)
