"""GET /api/categories/ and /api/categories/<lookup>/: the tree, counts, lookups, errors."""

from __future__ import annotations

import pytest

from catalog.models import Category
from catalog.selectors import category_tree_build
from tests.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

LIST = "/api/categories/"


def test_list_is_the_tree_in_depth_first_order_with_depth_children_and_counts(client):
    clothing = CategoryFactory(id=9, name="Clothing", slug="clothing", menu_order=1)
    music = CategoryFactory(id=11, name="Music", slug="music", menu_order=2)
    shirts = CategoryFactory(id=14, name="T-shirts", slug="t-shirts", parent=clothing)
    hoodies = CategoryFactory(id=10, name="Hoodies", slug="hoodies", parent=clothing)
    ProductFactory.create_batch(2, categories=[shirts])
    ProductFactory(categories=[shirts, clothing])
    ProductFactory(status="draft", categories=[hoodies])
    ProductFactory(catalog_visibility="hidden", categories=[hoodies])

    response = client.get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert [(c["id"], c["depth"]) for c in body["results"]] == [(9, 0), (10, 1), (14, 1), (11, 0)]
    by_id = {c["id"]: c for c in body["results"]}
    assert by_id[9]["children"] == [10, 14]
    assert by_id[9]["parent"] == 0
    assert by_id[14]["parent"] == 9
    assert (by_id[9]["count"], by_id[10]["count"], by_id[14]["count"], by_id[11]["count"]) == (1, 0, 3, 0)
    assert by_id[11]["name"] == "Music" and music.slug == by_id[11]["slug"]
    assert set(by_id[9]) == {
        "id", "name", "slug", "parent", "description", "display", "image", "menu_order", "count", "depth", "children",
    }  # fmt: skip
    assert (response["X-WP-Total"], response["X-WP-TotalPages"]) == ("4", "1")


def test_category_with_missing_parent_is_a_root(client):
    Category.objects.create(id=50, name="Orphan", slug="orphan", parent_id=999)

    item = client.get(LIST).json()["results"][0]

    assert (item["id"], item["parent"], item["depth"]) == (50, 0, 0)


def test_parent_cycle_is_broken_at_the_smallest_id():
    tree = category_tree_build([(1, 2, "a", "A", 0), (2, 1, "b", "B", 0), (3, 2, "c", "C", 0)])

    assert tree.nodes[1].parent is None
    assert tree.depth == {1: 0, 2: 1, 3: 2}
    assert tree.with_descendants([1]) == {1, 2, 3}
    assert tree.ancestors(3) == [1, 2]


def test_self_parent_is_a_root():
    tree = category_tree_build([(7, 7, "self", "Self", 0)])

    assert (tree.nodes[7].parent, tree.depth[7]) == (None, 0)


def test_list_filters_parent_and_hide_empty_and_paginates(client):
    root = CategoryFactory()
    first = CategoryFactory(parent=root, menu_order=1)
    second = CategoryFactory(parent=root, menu_order=2)
    ProductFactory(categories=[second])

    children = client.get(LIST, {"parent": root.id}).json()["results"]
    roots = client.get(LIST, {"parent": 0}).json()["results"]
    non_empty = client.get(LIST, {"hide_empty": "true"}).json()["results"]
    page_two = client.get(LIST, {"per_page": 2, "page": 2})

    assert [c["id"] for c in children] == [first.id, second.id]
    assert [c["id"] for c in roots] == [root.id]
    assert [c["id"] for c in non_empty] == [second.id]
    assert [c["id"] for c in page_two.json()["results"]] == [second.id]
    assert (page_two["X-WP-Total"], page_two["X-WP-TotalPages"]) == ("3", "2")


def test_list_page_past_the_end_is_empty(client):
    CategoryFactory()

    response = client.get(LIST, {"page": 2})

    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize(("params", "field"), [({"per_page": 0}, "per_page"), ({"parent": "x"}, "parent")])
def test_list_bad_parameters_are_400(client, params, field):
    response = client.get(LIST, params)

    assert response.status_code == 400
    assert list(response.json()["data"]["params"]) == [field]


def test_detail_by_id_or_slug_with_ancestors(client):
    clothing = CategoryFactory(name="Clothing", slug="clothing")
    shirts = CategoryFactory(name="Shirts", slug="shirts", parent=clothing)
    polos = CategoryFactory(name="Polos", slug="polos", parent=shirts)

    by_id = client.get(f"/api/categories/{polos.id}/")
    by_slug = client.get("/api/categories/polos/")

    assert by_id.status_code == by_slug.status_code == 200
    assert by_id.json() == by_slug.json()
    assert by_id.json()["ancestors"] == [
        {"id": clothing.id, "name": "Clothing", "slug": "clothing"},
        {"id": shirts.id, "name": "Shirts", "slug": "shirts"},
    ]
    assert by_id.json()["depth"] == 2


def test_detail_unknown_is_404_and_malformed_is_400(client):
    missing = client.get("/api/categories/no-such-category/")
    malformed = client.get("/api/categories/bad%20slug/")

    assert missing.status_code == 404
    assert missing.json()["code"] == "woocommerce_rest_term_invalid"
    assert malformed.status_code == 400
    assert list(malformed.json()["data"]["params"]) == ["id"]
