"""Authentication is explicit and failed logins are cheap and throttled (issue 8, item 2 / acceptance 3).

- The API authenticates by session (staff browsers) or token; Basic is off, so an ``Authorization: Basic``
  header is ignored: the request is anonymous and costs what an anonymous request costs (no user lookup,
  no password hash).
- Failed token attempts are counted per client: beyond ``THROTTLE_RATE_AUTH_FAILURES`` every token
  attempt from that client gets 429 until the window ends.
- The admin login is rate-limited per (client, user name) by django-axes.
"""

from __future__ import annotations

import base64

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
from rest_framework.authtoken.models import Token

from tests.catalog.fixtures import free_port, redis_caches
from tests.factories import CategoryFactory

pytestmark = pytest.mark.django_db

EXPORT = "/api/products/export.csv"


@pytest.fixture
def robot_token():
    robot = get_user_model().objects.create_user("robot", password="s3cret-pw", is_staff=True)
    return Token.objects.create(user=robot).key


@pytest.fixture
def auth_failure_rate(settings):
    def set_rate(rate: str | None) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth_failure": rate},
        }

    return set_rate


def _basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


# --- Basic is off ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        _basic(b"robot:s3cret-pw"),  # right password: still not a way in
        _basic(b"robot:wrong"),
        "Basic YQBiOng=",  # a NUL in the user name: was a 500 on every DRF endpoint
        "Basic %%%not-base64",
        "Basic",
    ],
)
def test_a_basic_header_is_ignored_and_costs_what_an_anonymous_request_costs(
    client, robot_token, header, django_assert_num_queries
):
    CategoryFactory()
    plain = client.get("/api/categories/")
    assert plain.status_code == 200

    # The answer is cached now: an anonymous request runs no query at all, and neither does this one
    # (no user lookup, so no password hash either).
    with django_assert_num_queries(0):
        response = client.get("/api/categories/", HTTP_AUTHORIZATION=header)

    assert response.status_code == 200
    assert response.content == plain.content
    assert response["Cache-Control"].startswith("public")


def test_a_stale_session_cookie_is_anonymous(client):
    client.cookies["sessionid"] = "s" * 32

    response = client.get("/api/categories/")

    assert response.status_code == 200


# --- Tokens --------------------------------------------------------------------------------------


def test_a_token_authenticates_staff_scripts(client, robot_token):
    assert client.get(EXPORT, HTTP_AUTHORIZATION=f"Token {robot_token}").status_code == 200


@pytest.mark.parametrize("key", ["0" * 40, "a\x00b", "x" * 41, "é" * 10])
def test_a_wrong_token_is_refused_as_json_and_malformed_ones_never_reach_the_database(
    client, robot_token, key, django_assert_max_num_queries
):
    with django_assert_max_num_queries(1 if key == "0" * 40 else 0):  # the well-formed one is looked up
        response = client.get("/api/categories/", HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 403
    assert response.json() == {
        "code": "rest_authentication_failed",
        "message": response.json()["message"],
        "data": {"status": 403},
    }


def test_110_failed_token_logins_from_one_client_are_throttled(client, robot_token):
    # given the shipped rate (THROTTLE_RATE_AUTH_FAILURES default: 20/hour)
    statuses = [client.get(EXPORT, HTTP_AUTHORIZATION=f"Token {i:040d}").status_code for i in range(110)]

    assert statuses == [403] * 20 + [429] * 90
    throttled = client.get(EXPORT, HTTP_AUTHORIZATION=f"Token {robot_token}")
    # then even the right token waits: the client is guessing
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "rest_throttled"
    assert throttled.json()["data"] == {"status": 429}
    assert 1 <= int(throttled["Retry-After"]) <= 3600


def test_failed_tokens_are_counted_per_client(client, robot_token, auth_failure_rate):
    auth_failure_rate("2/hour")
    attacker = {"REMOTE_ADDR": "203.0.113.9"}

    failures = [client.get(EXPORT, HTTP_AUTHORIZATION="Token " + "0" * 40, **attacker).status_code for _ in range(3)]
    other_client = client.get(EXPORT, HTTP_AUTHORIZATION=f"Token {robot_token}", REMOTE_ADDR="198.51.100.4")

    assert failures == [403, 403, 429]
    assert other_client.status_code == 200


def test_anonymous_requests_do_not_count_as_failed_logins(client, robot_token, auth_failure_rate):
    auth_failure_rate("1/hour")

    for _ in range(3):
        client.get("/api/categories/", HTTP_AUTHORIZATION=_basic(b"robot:wrong"))

    assert client.get(EXPORT, HTTP_AUTHORIZATION=f"Token {robot_token}").status_code == 200


def test_with_the_cache_down_token_failures_fail_open(client, robot_token, auth_failure_rate, settings):
    auth_failure_rate("1/hour")
    settings.CACHES = redis_caches(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there

    failures = [client.get(EXPORT, HTTP_AUTHORIZATION="Token " + "0" * 40).status_code for _ in range(3)]

    assert failures == [403, 403, 403]  # refused, not throttled and not a 500
    assert client.get(EXPORT, HTTP_AUTHORIZATION=f"Token {robot_token}").status_code == 200


# --- Admin login (django-axes) -------------------------------------------------------------------

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def admin_user():
    return get_user_model().objects.create_superuser("boss", "boss@example.com", "right-pw")


def _login(client, username: str, password: str, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def test_the_admin_login_locks_a_client_out_of_one_user_name_after_5_failures(client, admin_user):
    failures = [_login(client, "boss", f"wrong-{i}").status_code for i in range(5)]
    locked = _login(client, "boss", "right-pw")

    assert failures == [200] * 4 + [429]  # the form again with its error, then refused at the 5th
    assert locked.status_code == 429  # even the right password: the client was guessing
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.get(username="boss").failures_since_start >= 5


def test_an_admin_lockout_is_per_client_and_user_name(client, admin_user):
    for i in range(5):
        _login(client, "boss", f"wrong-{i}", REMOTE_ADDR="203.0.113.9")
    assert _login(client, "boss", "right-pw", REMOTE_ADDR="203.0.113.9").status_code == 429

    # an attacker cannot lock the staff out from elsewhere
    elsewhere = _login(client, "boss", "right-pw", REMOTE_ADDR="198.51.100.4")

    assert elsewhere.status_code == 302
    assert elsewhere["Location"] == "/admin/"


def test_the_admin_lockout_keys_on_the_address_nginx_saw(client, admin_user, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    behind_nginx = {"REMOTE_ADDR": "", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}

    for i in range(5):
        _login(client, "boss", f"wrong-{i}", **behind_nginx)

    assert _login(client, "boss", "right-pw", **behind_nginx).status_code == 429
    assert _login(client, "boss", "right-pw", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="198.51.100.4").status_code == 302


def test_a_successful_admin_login_resets_the_count(client, admin_user):
    for i in range(4):
        _login(client, "boss", f"wrong-{i}")
    assert _login(client, "boss", "right-pw").status_code == 302
    client.logout()

    failures = [_login(client, "boss", f"again-{i}").status_code for i in range(4)]

    assert failures == [200] * 4
    assert _login(client, "boss", "right-pw").status_code == 302


def test_one_client_trying_many_user_names_is_refused_past_the_per_client_limit(client, admin_user, auth_failure_rate):
    auth_failure_rate("6/hour")
    guesser = {"REMOTE_ADDR": "203.0.113.9"}

    # three user names, two tries each: no (client, user name) pair reaches axes' limit of 5
    failures = [_login(client, name, "guess", **guesser).status_code for name in ("a", "b", "c") for _ in range(2)]
    refused = _login(client, "boss", "right-pw", **guesser)
    elsewhere = _login(client, "boss", "right-pw", REMOTE_ADDR="198.51.100.4")

    assert failures == [200] * 5 + [429]  # the 6th failure reaches the per-client limit
    assert refused.status_code == 429
    assert elsewhere.status_code == 302


def test_failed_admin_logins_and_failed_tokens_share_the_per_client_limit(
    client, admin_user, robot_token, auth_failure_rate
):
    auth_failure_rate("3/hour")

    for i in range(3):
        _login(client, f"nobody-{i}", "guess")

    assert client.get(EXPORT, HTTP_AUTHORIZATION=f"Token {robot_token}").status_code == 429


class CountingHasher(MD5PasswordHasher):
    """The test settings' hasher, counting every hash it computes (a login's real cost)."""

    hashes = 0

    def encode(self, password: str, salt: str) -> str:
        CountingHasher.hashes += 1
        return super().encode(password, salt)


def test_a_locked_out_admin_login_hashes_no_password(client, admin_user, settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    admin_user.set_password("right-pw")
    admin_user.save()
    start = CountingHasher.hashes
    for i in range(5):
        _login(client, "boss", f"wrong-{i}")
    before = CountingHasher.hashes
    assert before - start == 5  # each failure before the lockout cost one hash

    answers = [_login(client, "boss", "right-pw").status_code for _ in range(3)]

    assert answers == [429] * 3
    assert CountingHasher.hashes == before  # refused before any password check
