"""API token authentication whose failures are throttled per client.

DRF authenticates before it throttles, so a wrong credential is answered (403) without ever counting
against a rate: 110 wrong attempts from one address gave 110 answers and no 429. Here a client that
failed ``THROTTLE_RATE_AUTH_FAILURES`` times in the window gets 429 (with ``Retry-After``) for every
token attempt until the window ends, right or wrong, before the token is looked up.

A token is 40 visible ASCII characters (DRF makes 40 hex digits); anything else fails without a query,
so a NUL or an overlong value never reaches PostgreSQL.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header

from common.throttling import auth_failure_record, auth_failure_wait

_TOKEN_KEY = re.compile(r"[!-~]{1,40}")


class ThrottledTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>`` (rest_framework.authtoken), at most N failures per client and window."""

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None  # not a token attempt: anonymous, or another authenticator's
        wait = auth_failure_wait(request)
        if wait is not None:
            raise exceptions.Throttled(wait=wait)
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            auth_failure_record(request)
            raise

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        if not _TOKEN_KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
