"""Admin login limits: django-axes per (client, user name), plus the API's per-client failure counter.

django-axes locks a (client address, user name) pair after ``AXES_FAILURE_LIMIT`` failures. On its own
that lets one client try 5 passwords for every user name it can think of, each costing a password hash.
This handler (``AXES_HANDLER``) also counts every failed admin login in the per-client counter that
failed API tokens feed (``THROTTLE_RATE_AUTH_FAILURES``, ``common.throttling``) and refuses a client past
it, whatever the user name, before any password is hashed. Like the API's throttles, that counter fails
open when the cache is down; axes' own counts live in the database and keep working.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler

from common.throttling import auth_failure_record, auth_failure_wait


class ClientLimitedAxesHandler(AxesDatabaseHandler):
    def is_allowed(self, request: Any, credentials: dict | None = None) -> bool:
        if auth_failure_wait(request) is not None:
            return False
        return super().is_allowed(request, credentials)

    def user_login_failed(self, sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
        if request is not None:
            auth_failure_record(request)
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        if request is not None and not getattr(request, "axes_locked_out", False) and auth_failure_wait(request):
            # What axes does for its own limit: AxesMiddleware turns the flag into the 429 lockout answer.
            request.axes_locked_out = True
            request.axes_credentials = credentials
