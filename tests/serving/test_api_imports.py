"""The sales-import API behind the planner's Data page: upload, describe, check, build."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from api_checks import error
from fastapi.testclient import TestClient
from live_store import Store, settings_for
from typer.testing import CliRunner

from anticipate.cli import app as cli
from features.storage import read_demand_dataset
from features.synthetic import make_demo_sales, write_demo_files
from serving import imports
from serving.app import create_app
from serving.db import make_engine, migrate
from serving.keys import create_key

EXPORTS = Path(__file__).parents[1] / "features" / "data" / "exports"
KASSE = EXPORTS / "kasse_export.csv"
#: The mapping of the README's till command (`--drop-col Umsatz`; Bon-Nr is not read either).
KASSE_MAPPING = {
    "item_cols": ["Artikel"],
    "store_col": "Filiale",
    "date_col": "Datum",
    "time_of_day_col": "Uhrzeit",
    "quantity_col": "Menge",
    "status_col": "Status",
    "keep_cols": ["Einzelpreis"],
    "duplicates": "sum",
    "negative": "clip",
}
MAX_UPLOAD = 400_000


@dataclass
class ImportApi:
    """A started app with its own datasets and imports folders, and a key per role."""

    client: TestClient
    keys: dict[str, str]
    data_dir: Path
    import_dir: Path

    def as_(self, role: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}

    def upload(self, path: Path, name: str | None = None, role: str = "writer", **extra):  # type: ignore[no-untyped-def]
        files = {"sales": (name or path.name, path.read_bytes(), "text/csv"), **extra}
        return self.client.post("/v1/imports", files=files, headers=self.as_(role))

    def wait(self, href: str) -> dict:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = self.client.get(href, headers=self.as_("viewer")).json()
            if job["status"] in ("succeeded", "failed"):
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {href} did not finish: {job}")


@pytest.fixture(scope="module")
def api(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImportApi]:
    """The app on a fresh ledger; its datasets start as a copy of the champion's."""
    root = tmp_path_factory.mktemp("imports-api")
    data_dir = root / "datasets"
    shutil.copytree(store.datasets, data_dir)
    database = root / "ledger.db"
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    keys = {role: create_key(engine, role, role)[1] for role in ("viewer", "writer", "admin")}
    engine.dispose()
    settings = settings_for(
        store,
        database,
        data_dir=data_dir,
        import_dir=root / "imports",
        max_upload_bytes=MAX_UPLOAD,
        max_body_bytes=2_000,  # smaller than every upload here: it must not apply to them
    )
    with TestClient(create_app(settings)) as client:
        yield ImportApi(client, keys, data_dir, root / "imports")


@pytest.fixture(scope="module")
def kasse(api: ImportApi) -> dict:
    """The till export uploaded once."""
    answer = api.upload(KASSE)
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def broken(api: ImportApi, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The till export with 'zwei' as the quantity on row 11 and no date on row 21."""
    lines = KASSE.read_bytes().decode("cp1252").split("\r\n")
    header = lines[0].split(";")
    for row, column, value in ((11, "Menge", "zwei"), (21, "Datum", "")):
        cells = lines[row - 1].split(";")
        cells[header.index(column)] = value
        lines[row - 1] = ";".join(cells)
    path = tmp_path_factory.mktemp("broken") / "kasse_broken.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1252"))
    answer = api.upload(path)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_till_upload_says_how_it_reads_and_suggests_its_columns(kasse: dict) -> None:
    """cp1252, ';' and decimal comma are detected; Datum, Menge and Artikel are proposed."""
    assert kasse["sales"] == {"name": "kasse_export.csv", "bytes": KASSE.stat().st_size}
    assert kasse["reading"] == {
        "format": "csv",
        "delimiter": ";",
        "decimal": ",",
        "encoding": "cp1252",
    }
    assert kasse["rows"] == 1634
    columns = {c["name"]: c for c in kasse["columns"]}
    assert columns["Datum"]["kind"] == "date" and columns["Uhrzeit"]["kind"] == "time-of-day"
    assert columns["Menge"]["kind"] == "number" and "Brötchen" in columns["Artikel"]["samples"]
    assert all(len(c["samples"]) <= 5 for c in kasse["columns"])
    assert len(kasse["preview"]) == 10 and kasse["preview"][0]["Datum"] == "02.02.2026"
    suggested = kasse["suggested"]
    assert suggested["item_cols"] == ["Artikel"] and suggested["store_col"] == "Filiale"
    assert suggested["date_col"] == "Datum" and suggested["quantity_col"] == "Menge"
    assert suggested["time_of_day_col"] == "Uhrzeit" and suggested["status_col"] == "Status"
    assert suggested["keep_cols"] == ["Einzelpreis"] and suggested["duplicates"] == "sum"


def test_the_description_can_be_fetched_again(api: ImportApi, kasse: dict) -> None:
    """GET answers what the upload answered; an unknown or malformed id is a 404."""
    again = api.client.get(f"/v1/imports/{kasse['import_id']}", headers=api.as_("writer"))
    assert again.status_code == 200 and again.json() == kasse
    for unknown in ("0" * 32, "not-an-id", "%2E%2E"):
        answer = api.client.get(f"/v1/imports/{unknown}", headers=api.as_("writer"))
        error(answer, 404, "import_id")


def test_demo_sales_with_attributes_upload_and_check(api: ImportApi, tmp_path: Path) -> None:
    """A file already in unique_id, ds, y form checks with its attributes' store level."""
    demo = make_demo_sales(seed=5, n_stores=2, n_bakery_items=3, n_web_items=1, n_days=90)
    paths = write_demo_files(demo, tmp_path)
    files = {"attributes": ("attributes.csv", paths["attributes"].read_bytes(), "text/csv")}
    answer = api.upload(paths["sales"], **files)
    assert answer.status_code == 201, answer.text
    described = answer.json()
    assert described["reading"]["encoding"] == "utf-8"
    assert described["attributes"]["name"] == "attributes.csv"
    assert "category" in described["attribute_columns"]
    mapping = {k: v for k, v in described["suggested"].items() if v is not None}
    report = api.client.post(
        f"/v1/imports/{described['import_id']}/check", json=mapping, headers=api.as_("writer")
    ).json()
    assert report["ok"], report
    assert report["summary"]["series"] == demo.sales["unique_id"].nunique()
    assert report["summary"]["stores"] == ["shop-1", "shop-2", "web"]
    assert report["summary"]["exogenous"] == ["price", "promo"]
    assert {"total", "store", "category"} <= set(report["summary"]["levels"])


def test_check_counts_the_series_the_cli_builds(
    api: ImportApi, kasse: dict, tmp_path: Path
) -> None:
    """The same mapping gives the same series and dates as `anticipate data build`."""
    report = api.client.post(
        f"/v1/imports/{kasse['import_id']}/check", json=KASSE_MAPPING, headers=api.as_("writer")
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["ok"] and body["problems"] == []
    args = ["data", "build", "--sales", str(KASSE), "--encoding", "cp1252", "--id-col"]
    args += ["Artikel", "--store-col", "Filiale", "--date-col", "Datum", "--time-of-day-col"]
    args += ["Uhrzeit", "--target-col", "Menge", "--status-col", "Status", "--drop-col"]
    args += ["Umsatz", "--duplicates", "sum", "--negative", "clip", "--out", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    built = read_demand_dataset(tmp_path).manifest
    summary = body["summary"]
    assert summary["series"] == built.n_series == 10
    assert (summary["first_date"], summary["last_date"]) == (built.start, built.end)
    assert summary["rows"] == built.n_rows and summary["stores"] == ["Altstadt", "Bahnhof"]
    assert any("netted within their day" in note for note in body["notes"])


def test_a_broken_export_is_reported_with_file_row_and_column(api: ImportApi, broken: dict) -> None:
    """A 200 report with ok=false: the non-numeric quantity and the missing date, located."""
    answer = api.client.post(
        f"/v1/imports/{broken['import_id']}/check", json=KASSE_MAPPING, headers=api.as_("writer")
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["ok"] is False and report["summary"] is None
    found = {p["column"]: p for p in report["problems"]}
    assert found["Menge"]["rows"] == [11] and found["Menge"]["file"] == "kasse_broken.csv"
    assert "zwei" in found["Menge"]["message"]
    assert found["Datum"]["code"] == "missing_date" and found["Datum"]["rows"] == [21]
    assert "row 21" in found["Datum"]["text"] and "kasse_broken.csv" in found["Datum"]["text"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"date_col": "Datum "}, "body.date_col"),
        ({"item_cols": ["Artikel", "Produkt"]}, "body.item_cols.1"),
        ({"keep_cols": ["Rabatt"]}, "body.keep_cols.0"),
        ({"quantity_col": "Artikel"}, "body.quantity_col"),
        ({"duplicates": "mean"}, "body.duplicates"),
        ({"date_col": None}, "body.date_col"),
    ],
)
def test_a_wrong_mapping_is_a_422_naming_the_field(
    api: ImportApi, kasse: dict, change: dict, field: str
) -> None:
    """Unknown or doubly mapped columns and bad policies name the field (and the columns)."""
    mapping = {**KASSE_MAPPING, **change}
    answer = api.client.post(
        f"/v1/imports/{kasse['import_id']}/check", json=mapping, headers=api.as_("writer")
    )
    body = error(answer, 422, field)
    if "not in" in body["message"]:
        assert "'Menge'" in body["message"] and "kasse_export.csv" in body["message"]


def test_roles_viewer_cannot_upload_and_writer_cannot_build(api: ImportApi, kasse: dict) -> None:
    """Uploads and checks need a writer key, builds an admin key."""
    error(api.upload(KASSE, role="viewer"), 403)
    build = f"/v1/imports/{kasse['import_id']}/build"
    error(api.client.post(build, json=KASSE_MAPPING, headers=api.as_("writer")), 403)
    error(api.client.post("/v1/imports", files={"sales": ("a.csv", b"x")}), 401)


def test_build_replaces_the_datasets_and_a_broken_build_keeps_them(
    api: ImportApi, kasse: dict, broken: dict
) -> None:
    """The admin's build writes readable datasets; invalid data fails and changes nothing."""
    before = read_demand_dataset(api.data_dir).manifest.content_hash
    build = f"/v1/imports/{kasse['import_id']}/build"
    started = api.client.post(build, json=KASSE_MAPPING, headers=api.as_("admin"))
    assert started.status_code == 202, started.text
    assert started.json()["href"] == f"/v1/jobs/{started.json()['job_id']}"
    busy = api.client.post(build, json=KASSE_MAPPING, headers=api.as_("admin"))
    error(busy, 409)
    job = api.wait(started.json()["href"])
    assert job["status"] == "succeeded" and job["kind"] == "import", job
    assert job["progress"] == 1.0 and job["result"]["summary"]["series"] == 10
    demand = read_demand_dataset(api.data_dir)
    assert demand.manifest.content_hash != before
    assert "Brötchen@Altstadt" in set(demand.panel["unique_id"])
    built = demand.manifest.content_hash

    failing = api.client.post(
        f"/v1/imports/{broken['import_id']}/build", json=KASSE_MAPPING, headers=api.as_("admin")
    )
    assert failing.status_code == 202, failing.text
    job = api.wait(failing.json()["href"])
    assert job["status"] == "failed"
    problems = job["result"]["problems"]
    assert {p["column"] for p in problems} >= {"Menge", "Datum"}
    assert "kasse_broken.csv" in job["error"]
    assert read_demand_dataset(api.data_dir).manifest.content_hash == built
    assert sorted(p.name for p in api.data_dir.parent.iterdir() if p.name.startswith(".")) == []
    listed = api.client.get("/v1/jobs?kind=import", headers=api.as_("viewer")).json()
    assert [j["status"] for j in listed["items"][:2]] == ["failed", "succeeded"]


def test_an_oversize_upload_is_a_413_and_leaves_nothing(api: ImportApi, tmp_path: Path) -> None:
    """Above max_upload_bytes: 413, declared or streamed, and no import folder is left."""
    before = sorted(p.name for p in api.import_dir.iterdir())
    big = tmp_path / "big.csv"
    big.write_bytes(b"unique_id,ds,y\n" + b"a,2026-01-01,1\n" * (MAX_UPLOAD // 15 + 10))
    error(api.upload(big), 413, "body")

    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="sales"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: the body is sent chunked
        yield head
        for _ in range(MAX_UPLOAD // 10_000 + 5):
            yield b"a,2026-01-01,1\n" * 700
        yield f"\r\n--{boundary}--\r\n".encode()

    streamed = api.client.post(
        "/v1/imports",
        content=chunks(),
        headers={**api.as_("writer"), "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    error(streamed, 413, "body")
    assert sorted(p.name for p in api.import_dir.iterdir()) == before


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("empty.csv", b"", "empty"),
        ("broken.parquet", b"PAR1 not really parquet", "Parquet"),
    ],
)
def test_an_unreadable_file_is_a_422_naming_it(
    api: ImportApi, name: str, content: bytes, code: str
) -> None:
    """The error names the uploaded file (never the server's path) and nothing is kept."""
    before = sorted(p.name for p in api.import_dir.iterdir())
    answer = api.client.post(
        "/v1/imports", files={"sales": (name, content)}, headers=api.as_("writer")
    )
    body = error(answer, 422, "sales")
    assert name in body["message"] and code in body["message"]
    assert str(api.import_dir) not in body["message"]
    assert sorted(p.name for p in api.import_dir.iterdir()) == before


@pytest.mark.parametrize("name", ["../../escaped.csv", "..\\..\\escaped.csv", "/etc/passwd", ".."])
def test_path_traversal_file_names_are_harmless(api: ImportApi, name: str) -> None:
    """The client's name is only shown; the file is stored inside its import folder."""
    answer = api.client.post(
        "/v1/imports",
        files={"sales": (name, KASSE.read_bytes(), "text/csv")},
        headers=api.as_("writer"),
    )
    assert answer.status_code == 201, answer.text
    described = answer.json()
    assert "/" not in described["sales"]["name"] and "\\" not in described["sales"]["name"]
    folder = api.import_dir / described["import_id"]
    assert sorted(p.name for p in folder.iterdir()) == ["import.json", "sales.csv"]
    for root in (api.import_dir, api.import_dir.parent, api.import_dir.parent.parent):
        assert not (root / "escaped.csv").exists()


def test_old_imports_are_removed_by_count_and_age(tmp_path: Path) -> None:
    """Kept: the 20 newest while younger than 7 days; one a build reads is spared."""
    now = time.time()
    ids = []
    for age_days in [*range(25), 8.0]:
        folder = tmp_path / os.urandom(16).hex()
        folder.mkdir()
        (folder / imports.DESCRIPTION_FILE).write_text("{}")
        stamp = now - age_days * 86_400 - 1
        os.utime(folder / imports.DESCRIPTION_FILE, (stamp, stamp))
        ids.append(folder.name)
    removed = imports.prune_imports(tmp_path, spare={ids[22]}, now=now)
    kept = {p.name for p in tmp_path.iterdir()}
    assert kept == {*ids[:7], ids[22]}  # 7 days and more are too old; the spared one stays
    assert len(removed) == len(ids) - 8


def test_a_form_without_the_sales_file_names_the_field(api: ImportApi) -> None:
    """'sales' sent as text, or missing, is a 422 on body.sales; a broken form a 400."""
    writer = api.as_("writer")
    as_text = api.client.post("/v1/imports", data={"sales": "a,b"}, headers=writer)
    error(as_text, 422, "body.sales")
    missing = api.client.post("/v1/imports", files={"other": ("a.csv", b"x")}, headers=writer)
    error(missing, 422, "body.sales")
    no_boundary = {**writer, "Content-Type": "multipart/form-data"}
    error(api.client.post("/v1/imports", content=b"x", headers=no_boundary), 400, "body")


def test_a_parquet_export_uploads_and_checks(api: ImportApi, tmp_path: Path) -> None:
    """Parquet keeps its types: no delimiter or encoding, dates and numbers as such."""
    demo = make_demo_sales(seed=6, n_stores=1, n_bakery_items=2, n_web_items=1, n_days=80)
    path = tmp_path / "sales.parquet"
    demo.sales.rename(columns={"unique_id": "sku", "ds": "day", "y": "qty"}).to_parquet(path)
    described = api.upload(path).json()
    assert described["reading"] == {
        "format": "parquet",
        "delimiter": None,
        "decimal": None,
        "encoding": None,
    }
    mapping = {k: v for k, v in described["suggested"].items() if v is not None}
    assert (mapping["item_cols"], mapping["date_col"], mapping["quantity_col"]) == (
        ["sku"],
        "day",
        "qty",
    )
    report = api.client.post(
        f"/v1/imports/{described['import_id']}/check", json=mapping, headers=api.as_("writer")
    ).json()
    assert report["ok"] and report["summary"]["series"] == demo.sales["unique_id"].nunique()
