"""Stock imports: ``manage.py import_stock FILE.csv`` and ``POST /api/stock-imports/`` queue one operation per
good line, name bad lines by number, list unknown SKUs, and do nothing for the same content twice."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from contextlib import nullcontext
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from rest_framework.authtoken.models import Token

from catalog.models import Product
from sync.models import StockImport, SyncOperation
from sync.services.stock_imports import CHUNK_SIZE, StockImportRefused, stock_import_run
from tests.factories import ProductFactory, ProductVariationFactory
from tests.sync.helpers import PROJECT_ROOT, subprocess_env

pytestmark = pytest.mark.django_db


@pytest.fixture
def mirror():
    """Three managed products, one unmanaged, one variation."""
    ProductFactory(id=1, sku="A-1", manage_stock=True, stock_quantity=Decimal("10"), regular_price=Decimal("5"))
    ProductFactory(id=2, sku="B-2", manage_stock=True, stock_quantity=Decimal("0"), regular_price=Decimal("8.50"))
    ProductFactory(id=3, sku="C-3", manage_stock=True, stock_quantity=Decimal("4"), sale_price=Decimal("7"))
    ProductFactory(id=4, sku="D-4", manage_stock=False, stock_quantity=None)
    ProductVariationFactory(id=50, product=ProductFactory(id=5, type="variable"), sku="V-50", manage_stock=True)


def _import(path: Path, *args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("import_stock", str(path), *args, stdout=out)
    except SystemExit as exit_:
        return int(exit_.code), out.getvalue()
    return 0, out.getvalue()


def _write(tmp_path: Path, text: str | bytes, name: str = "stock.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# --- The command ----------------------------------------------------------------------------------------------


def test_each_good_line_is_one_operation_of_the_contract_shape(tmp_path, mirror):
    path = _write(tmp_path, "sku,stock_quantity,regular_price\nA-1,15,\nB-2,3,9.00\nV-50,7,\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    code, out = _import(path)

    assert code == 0, out
    assert "rows read: 3; queued: 3;" in out
    ops = {op.object_id: op for op in SyncOperation.objects.all()}
    assert {op.dedupe_key for op in ops.values()} == {f"stock_import:{digest}:{line}" for line in (2, 3, 4)}
    assert all(op.origin == "stock_import" and op.action == "update" and op.payload is None for op in ops.values())
    assert (ops[1].new_values, ops[1].base_values) == ({"stock_quantity": 15}, {"stock_quantity": 10})
    assert ops[2].new_values == {"stock_quantity": 3, "regular_price": "9.00"}
    assert ops[2].base_values == {"stock_quantity": 0, "regular_price": "8.50"}
    assert (ops[50].object_kind, ops[50].parent_id) == ("variation", 5)
    assert Product.objects.get(id=1).stock_quantity == Decimal("10")  # the mirror waits for WooCommerce


def test_the_same_file_again_is_a_no_op_that_says_so(tmp_path, mirror):
    path = _write(tmp_path, "sku,stock_quantity\nA-1,15\nB-2,3\n")
    _import(path)
    first = set(SyncOperation.objects.values_list("id", flat=True))

    code, out = _import(_write(tmp_path, path.read_bytes(), name="renamed.csv"))

    assert code == 0
    assert "Already imported" in out and "queued: 0;" in out
    assert set(SyncOperation.objects.values_list("id", flat=True)) == first
    assert StockImport.objects.count() == 1


def test_bad_lines_are_named_by_line_number_and_the_good_ones_still_queued(tmp_path, mirror):
    path = _write(
        tmp_path,
        "sku,stock_quantity,regular_price\n"
        "A-1,x,\n"  # 2
        "B-2,2.5,\n"  # 3
        "C-3,5,abc\n"  # 4
        "NOPE,5,\n"  # 5
        "\n"  # 6: blank, skipped
        "D-4,6,\n"  # 7: queued, turns manage_stock on
        ",3,\n"  # 8
        "C-3,9,6.00\n"  # 9: regular below the sale price (7)
        "GONE,1,\n"  # 10
        "A-1,-3\n"  # 11: no price column is fine, the stock is not
        "B-2\n",  # 12
    )

    code, out = _import(path)

    assert code == 3
    assert "rows read: 10; queued: 1;" in out
    for line, reason in [
        (2, "stock_quantity: 'x' is not an integer"),
        (3, "stock_quantity: '2.5' is not an integer"),
        (4, "regular_price: 'abc' is not a decimal number"),
        (8, "empty sku"),
        (9, "regular_price: below the current sale price (7.00)"),
        (11, "stock_quantity: Must be between 0 and"),
        (12, "1 column(s): sku and stock_quantity need 2"),
    ]:
        assert f"line {line}: " in out and reason in out.split(f"line {line}: ", 1)[1].split("\n", 1)[0], (line, out)
    assert "unknown SKUs: NOPE, GONE" in out
    op = SyncOperation.objects.get()
    assert (op.object_id, op.new_values, op.base_values) == (
        4,
        {"stock_quantity": 6, "manage_stock": True},
        {"stock_quantity": None, "manage_stock": False},
    )


def test_a_line_cut_before_the_optional_price_is_read_without_it(tmp_path, mirror):
    path = _write(tmp_path, "sku,stock_quantity,regular_price\nA-1,11\nB-2,4,\n")

    code, out = _import(path)

    assert code == 0, out
    assert sorted(SyncOperation.objects.values_list("object_id", flat=True)) == [1, 2]


def test_lines_equal_to_the_mirror_are_counted_unchanged_and_not_queued(tmp_path, mirror):
    path = _write(tmp_path, "sku,stock_quantity,regular_price\nA-1,10,5.00\nB-2,0,\nC-3,5,\n")

    code, out = _import(path)

    assert code == 0 and "queued: 1;" in out and "unchanged: 2;" in out
    assert SyncOperation.objects.get().object_id == 3


def test_a_second_line_for_the_same_item_is_refused_the_first_wins(tmp_path, mirror, monkeypatch):
    monkeypatch.setattr("sync.services.stock_imports.BATCH_SIZE", 2)  # the duplicate lands in a later batch
    path = _write(tmp_path, "sku,stock_quantity\nA-1,11\nB-2,1\nC-3,1\nA-1,12\nA-1,13\n")

    code, out = _import(path)

    assert code == 3
    assert "line 5: duplicate sku 'A-1': line 2 already set it" in out
    assert "line 6: duplicate sku 'A-1': line 2 already set it" in out
    assert SyncOperation.objects.get(object_id=1).new_values == {"stock_quantity": 11}


def test_bom_semicolons_case_and_extra_columns_are_accepted(tmp_path, mirror):
    path = _write(tmp_path, '\ufeffName;SKU;Stock_Quantity\r\nShirt;A-1;12\r\n"Mug; blue";B-2;5\r\n')

    code, out = _import(path)

    assert code == 0, out
    assert "ignored columns: Name" in out
    assert {op.object_id: op.new_values["stock_quantity"] for op in SyncOperation.objects.all()} == {1: 12, 2: 5}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "header is required"),
        (b"sku,quantity\nA-1,5\n", "missing: stock_quantity"),
        (b"sku;stock_quantity,regular_price\n", "both ',' and ';'"),
        (b"sku,sku,stock_quantity\n", "'sku' twice"),
        (b"PK\x03\x04\xff\xfe\x00binary", "not UTF-8"),
    ],
)
def test_a_file_without_a_usable_header_is_refused_whole(tmp_path, mirror, content, message):
    with pytest.raises(CommandError, match=message):
        _import(_write(tmp_path, content))

    assert SyncOperation.objects.count() == 0


def test_an_invalid_byte_refuses_its_line_only(tmp_path, mirror):
    path = _write(tmp_path, b"sku,stock_quantity\nA-1,1\xff2\nB-2,4\n")

    code, out = _import(path)

    assert code == 3 and "line 2: not UTF-8 text" in out
    assert SyncOperation.objects.get().object_id == 2


def test_an_unreadable_csv_stops_at_its_line_keeping_what_was_queued(tmp_path, mirror):
    # csv's field limit is 128 KB: the reader cannot go on past an oversized field.
    path = _write(tmp_path, 'sku,stock_quantity\nB-2,4\nA-1,"' + "9" * 200_000 + '"\nC-3,1\n')

    code, out = _import(path)

    assert code == 3 and "line 3: unreadable CSV, import stopped here" in out
    assert list(SyncOperation.objects.values_list("object_id", flat=True)) == [2]
    assert StockImport.objects.get().finished_at is None  # not a completed import: a fixed file is run again


def test_an_interrupted_import_run_again_queues_only_what_is_missing(tmp_path, mirror):
    path = _write(tmp_path, "sku,stock_quantity\nA-1,11\nB-2,1\n")
    _import(path)
    SyncOperation.objects.filter(object_id=2).delete()
    StockImport.objects.update(finished_at=None)  # as if killed before the end

    code, out = _import(path)

    assert code == 0 and "queued: 1; already queued: 1;" in out
    assert sorted(SyncOperation.objects.values_list("object_id", flat=True)) == [1, 2]


def test_the_user_is_recorded(tmp_path, mirror, django_user_model):
    user = django_user_model.objects.create_user("clerk", is_staff=True)

    _import(_write(tmp_path, "sku,stock_quantity\nA-1,11\n"), "--user", "clerk")

    assert SyncOperation.objects.get().created_by == user
    with pytest.raises(CommandError, match="no user"):
        _import(_write(tmp_path, "sku,stock_quantity\nA-1,12\n"), "--user", "nobody")


def test_a_missing_file_and_help(tmp_path, capsys):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_stock", str(tmp_path / "missing.csv"))
    with pytest.raises(SystemExit):
        call_command("import_stock", "--help")

    assert "exit codes" in capsys.readouterr().out


# --- Streaming: 8 KB reads, batches, bounded queries -------------------------------------------------------


class _RecordingFile(io.BytesIO):
    def __init__(self, data: bytes, reads: list[int]) -> None:
        super().__init__(data)
        self.reads = reads

    def read(self, size: int | None = -1) -> bytes:
        self.reads.append(size)
        return super().read(size)


def test_the_file_is_hashed_and_parsed_in_8_kb_reads(mirror):
    data = ("sku,stock_quantity\n" + "".join(f"UNKNOWN-{i},{i}\n" for i in range(5000))).encode()
    reads: list[int] = []

    result = stock_import_run(
        open_file=lambda: nullcontext(_RecordingFile(data, reads)), filename="x.csv", source="command"
    )

    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert set(reads) == {CHUNK_SIZE}
    assert len(reads) == 2 * (len(data) // CHUNK_SIZE + 2)  # two passes, each to the empty read at the end
    assert result.unknown == 5000 and len(result.unknown_skus) == 100


def test_lines_are_resolved_and_queued_a_batch_at_a_time(tmp_path, django_assert_max_num_queries):
    Product.objects.bulk_create(
        Product(id=i, sku=f"S{i}", manage_stock=True, stock_quantity=Decimal(1)) for i in range(1, 2501)
    )
    path = _write(tmp_path, "sku,stock_quantity\n" + "".join(f"S{i},{i + 1}\n" for i in range(1, 2501)))

    # 3 batches x (SKUs, this file's queued lines, insert) + the import record (read, create, save) + savepoints.
    # SQLite: Django splits each 1,000-row insert into statements of at most 999 parameters (~21 each).
    limit = 18 if connection.vendor == "postgresql" else 18 + 3 * 22
    with django_assert_max_num_queries(limit):
        result = stock_import_run(open_file=lambda: path.open("rb"), filename="s.csv", source="command")

    assert result.queued == 2500 and SyncOperation.objects.count() == 2500


def test_a_file_over_the_limit_is_refused(tmp_path, settings, mirror):
    settings.STOCK_IMPORT_MAX_BYTES = 100
    path = _write(tmp_path, "sku,stock_quantity\n" + "A-1,1\n" * 30)

    with pytest.raises(StockImportRefused) as refused:
        stock_import_run(open_file=lambda: path.open("rb"), filename="s.csv", source="command")

    assert refused.value.status == 413
    assert SyncOperation.objects.count() == StockImport.objects.count() == 0


# --- The upload endpoint --------------------------------------------------------------------------------------


@pytest.fixture
def staff_token(django_user_model) -> str:
    return Token.objects.create(user=django_user_model.objects.create_user("clerk", is_staff=True)).key


def _upload(client, content: bytes, token: str | None, name: str = "stock.csv"):
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}
    return client.post("/api/stock-imports/", {"file": SimpleUploadedFile(name, content, "text/csv")}, **headers)


def test_staff_upload_queues_and_reports(client, mirror, staff_token):
    response = _upload(client, b"sku,stock_quantity\nA-1,12\nNOPE,1\nB-2,x\n", staff_token)

    assert response.status_code == 202
    body = response.json()
    assert (body["rows"], body["queued"], body["bad"], body["unknown"], body["already_imported"]) == (3, 1, 1, 1, False)
    assert body["bad_lines"] == [{"line": 4, "reason": "stock_quantity: 'x' is not an integer."}]
    assert body["unknown_skus"] == ["NOPE"]
    assert response["Cache-Control"] == "private, no-store"
    assert SyncOperation.objects.get().origin == "stock_import"


def test_the_same_upload_again_is_200_already_imported(client, mirror, staff_token):
    content = b"sku,stock_quantity\nA-1,12\n"
    first = _upload(client, content, staff_token)

    again = _upload(client, content, staff_token, name="other-name.csv")

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["already_imported"] is True and again.json()["queued"] == 0
    assert SyncOperation.objects.count() == 1


def test_upload_refusals(client, mirror, staff_token, settings, django_user_model):
    shopper = Token.objects.create(user=django_user_model.objects.create_user("shopper")).key
    anonymous = _upload(client, b"sku,stock_quantity\nA-1,12\n", None)
    not_staff = _upload(client, b"sku,stock_quantity\nA-1,12\n", shopper)
    no_file = client.post("/api/stock-imports/", {"other": "x"}, HTTP_AUTHORIZATION=f"Token {staff_token}")
    json_body = client.post(
        "/api/stock-imports/", data="{}", content_type="application/json", HTTP_AUTHORIZATION=f"Token {staff_token}"
    )
    no_header = _upload(client, b"A-1,12\n", staff_token)
    settings.STOCK_IMPORT_MAX_BYTES = 10
    too_big = _upload(client, b"sku,stock_quantity\nA-1,12\n", staff_token)

    assert [r.status_code for r in (anonymous, not_staff, no_file, json_body, no_header, too_big)] == [
        403,
        403,
        400,
        415,
        400,
        413,
    ]
    assert "missing: sku, stock_quantity" in no_header.json()["data"]["params"]["file"]
    assert SyncOperation.objects.count() == 0


# --- Acceptance 4: 100,000 lines in flat memory ---------------------------------------------------------------

PEAK_RSS = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _peak_rss_kb(path: Path) -> tuple[int, int]:
    """(exit code, peak RSS in KB) of ``manage.py import_stock path`` in its own process."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, sys.executable, "manage.py", "import_stock", str(path)],
        cwd=PROJECT_ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    code, peak = done.stdout.split()
    return int(code), int(peak)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_100000_lines_keep_peak_rss_growth_under_30_mb(tmp_path):
    rows = 100_000
    Product.objects.bulk_create(
        (Product(id=i, sku=f"SKU-{i:06d}", manage_stock=True, stock_quantity=Decimal(5)) for i in range(1, rows + 1)),
        batch_size=5000,
    )
    small = _write(tmp_path, "sku,stock_quantity\nSKU-000001,6\n", name="small.csv")
    lines = ["sku,stock_quantity,regular_price\n"]
    lines += [f"SKU-{i:06d},{i % 500},{i % 90 + 1}.25\n" for i in range(1, rows + 1)]
    lines[500] = "SKU-000500,lots,\n"  # line 501
    lines[99_999] = "SKU-099999,-1,\n"  # line 100,000
    big = _write(tmp_path, "".join(lines), name="big.csv")

    small_code, small_peak = _peak_rss_kb(small)
    big_code, big_peak = _peak_rss_kb(big)
    again_code, _ = _peak_rss_kb(big)

    growth_mb = (big_peak - small_peak) / 1024
    print(f"peak RSS: {small_peak / 1024:.1f} MB for 1 line, {big_peak / 1024:.1f} MB for {rows} lines")
    assert (small_code, big_code, again_code) == (0, 3, 0)
    assert growth_mb < 30, f"peak RSS grew by {growth_mb:.1f} MB"
    imported = StockImport.objects.get(filename="big.csv")
    assert (imported.rows, imported.bad) == (rows, 2)
    assert [line for line, _ in imported.report["bad_lines"]] == [501, 100_000]
    # the first line of the small file queued one too; the second run of the big file queued nothing
    assert SyncOperation.objects.filter(origin="stock_import").count() == 1 + rows - 2
