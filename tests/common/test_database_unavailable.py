"""DatabaseUnavailableMiddleware: an outage under /api/ is a 503 JSON with Retry-After; anything else is left alone.

The real outage (a PostgreSQL cut behind a real gunicorn) is tests/deploy/test_postgres_restart.py.
"""

import json

import pytest
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, ProgrammingError
from django.http import HttpResponse
from django.test import RequestFactory

from common.middleware.database_unavailable import DatabaseUnavailableMiddleware


@pytest.fixture
def middleware():
    return DatabaseUnavailableMiddleware(lambda request: HttpResponse("ok"))


@pytest.mark.parametrize("error", [OperationalError("couldn't get a connection after 1.50 sec"), InterfaceError()])
def test_an_unavailable_database_under_api_is_a_503_json_with_retry_after(middleware, error):
    request = RequestFactory().get("/api/products/?page=2")

    response = middleware.process_exception(request, error)

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert "no-store" in response["Cache-Control"]
    assert json.loads(response.content) == {
        "code": "database_unavailable",
        "message": "The catalog database is unavailable; try again shortly.",
        "data": {"status": 503},
    }
    assert b"1.50 sec" not in response.content  # no internals in the answer


@pytest.mark.parametrize("error", [ProgrammingError("bad query"), IntegrityError(), DatabaseError(), ValueError()])
def test_bugs_and_bad_data_are_not_dressed_up_as_outages(middleware, error):
    assert middleware.process_exception(RequestFactory().get("/api/products/"), error) is None


def test_outside_the_api_django_answers_as_usual(middleware):
    assert middleware.process_exception(RequestFactory().get("/admin/"), OperationalError()) is None
