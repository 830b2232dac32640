"""The admin lists the sync queue, filtered by state and origin, searchable by object id, with "retry"."""

import pytest
from django.utils import timezone

from sync.models import SyncOperation

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def _op(object_id: int, state: str, origin: str = "webhook", **extra) -> SyncOperation:
    now = timezone.now()
    return SyncOperation.objects.create(
        origin=origin, object_kind="product", object_id=object_id, action="refresh", dedupe_key=f"k{object_id}",
        state=state, attempts=8 if state == "dead" else 1, sort_at=now, next_attempt_at=now, created_at=now,
        last_error="WooCommerceUnavailable: the store is down" if state == "dead" else "", **extra,
    )  # fmt: skip


def test_the_queue_is_listed_filtered_and_searchable(staff_client):
    _op(4101, "dead")
    _op(4102, "done")
    _op(4103, "pending", origin="local_edit")

    dead = staff_client.get("/admin/sync/syncoperation/?state__exact=dead").content
    local = staff_client.get("/admin/sync/syncoperation/?origin__exact=local_edit").content
    found = staff_client.get("/admin/sync/syncoperation/?q=4102").content

    assert b"4101" in dead and b"4102" not in dead and b"the store is down" in dead
    assert b"4103" in local and b"4101" not in local
    assert b"4102" in found and b"4101" not in found


def test_retry_puts_dead_operations_back_and_leaves_the_others(staff_client):
    dead, done = _op(4201, "dead"), _op(4202, "done")

    response = staff_client.post(
        "/admin/sync/syncoperation/",
        {"action": "retry", "_selected_action": [dead.id, done.id]},
        follow=True,
    )

    assert response.status_code == 200
    assert b"1 operation(s) queued again" in response.content and b"1 skipped" in response.content
    dead.refresh_from_db()
    done.refresh_from_db()
    assert (dead.state, dead.attempts, dead.finished_at) == ("pending", 0, None)
    assert done.state == "done"


def test_operations_cannot_be_edited_or_deleted_from_the_admin(staff_client):
    op = _op(4301, "dead")

    assert staff_client.get("/admin/sync/syncoperation/add/").status_code == 403
    assert staff_client.post(f"/admin/sync/syncoperation/{op.id}/delete/", {"post": "yes"}).status_code == 403
    assert SyncOperation.objects.filter(id=op.id).exists()
