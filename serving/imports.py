"""Sales imports from the planner's web page: upload an export, map its columns, check, build.

Each upload lives in its own folder `<import_dir>/<import_id>/` (a random id; the client's file
name is shown, never used as a path) with the files as `sales.<ext>`, `attributes.<ext>` and
the description `import.json`. A check runs exactly the pipeline of `anticipate data build`
(read_sales -> build_demand_dataset -> build_trend_dataset) and writes nothing; a build
(`serving.import_job`) also replaces the datasets folder, atomically.

Clean-up rule: after each upload, an import is kept while it is one of the `KEEP_IMPORTS` newest
and younger than `MAX_AGE`; older ones are deleted (except one a build is reading).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import secrets
import shutil
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from features.demand import DemandDataset, build_demand_dataset
from features.errors import DataError, DataProblem, DataValidationError, DataWarning
from features.ingest import read_sales
from features.mapping import read_export, sketch_columns, suggest_mapping
from features.read_options import ReadOptions
from features.trend import TrendDataset, build_trend_dataset
from serving.errors import InvalidRequest, NotFound
from serving.import_schemas import (
    CheckReport,
    Column,
    DatasetSummary,
    ImportDescription,
    Mapping,
    Problem,
    Reading,
    SuggestedMapping,
    UploadedFile,
)

log = logging.getLogger("anticipate.serving")

KEEP_IMPORTS = 20
MAX_AGE = dt.timedelta(days=7)
DESCRIPTION_FILE = "import.json"
PREVIEW_ROWS = 10
STAGES = (
    "Reading and checking",
    "Building demand dataset",
    "Building trend dataset",
    "Writing datasets",
)
_IMPORT_ID = re.compile(r"^[0-9a-f]{32}$")
_UPLOADING = ".upload-"
#: Stored suffix by the file's first bytes: compressed CSV, Parquet, else plain CSV.
_MAGIC = ((b"PAR1", ".parquet"), (b"\x1f\x8b", ".csv.gz"), (b"BZh", ".csv.bz2"), (b"PK", ".zip"))
_CHUNK = 1 << 20


def shown_name(name: str | None, fallback: str) -> str:
    """The client's file name for display only: its last part, printable, at most 200 chars."""
    last = re.split(r"[\\/]", name or "")[-1]
    printable = "".join(ch for ch in last if ch.isprintable()).strip()
    return printable[:200] or fallback


def _stored_suffix(head: bytes) -> str:
    return next((suffix for magic, suffix in _MAGIC if head.startswith(magic)), ".csv")


def _copy(source: BinaryIO, folder: Path, stem: str) -> Path:
    """Copy an uploaded stream into `folder` as `stem` + a suffix chosen from its content."""
    head = source.read(8)
    path = folder / f"{stem}{_stored_suffix(head)}"
    with path.open("wb") as out:
        out.write(head)
        shutil.copyfileobj(source, out, _CHUNK)
    return path


def create_import(
    import_dir: Path,
    sales: BinaryIO,
    sales_name: str | None,
    attributes: BinaryIO | None = None,
    attributes_name: str | None = None,
    *,
    keep_running: Iterable[str] = (),
) -> ImportDescription:
    """Store an upload in a new import folder and describe it; nothing stays if it is unreadable.

    Raises:
        InvalidRequest: a file cannot be read (the message names it and says why).
    """
    import_dir.mkdir(parents=True, exist_ok=True)
    import_id = secrets.token_hex(16)
    staging = import_dir / f"{_UPLOADING}{import_id}"
    staging.mkdir()
    try:
        sales_path = _copy(sales, staging, "sales")
        name = shown_name(sales_name, "sales.csv")
        files = {"sales": UploadedFile(name=name, bytes=sales_path.stat().st_size)}
        attribute_columns: list[str] = []
        if attributes is not None:
            attributes_path = _copy(attributes, staging, "attributes")
            name = shown_name(attributes_name, "attributes.csv")
            files["attributes"] = UploadedFile(name=name, bytes=attributes_path.stat().st_size)
            attribute_columns = _attribute_columns(attributes_path, name)
        description = _describe(import_id, sales_path, files, attribute_columns)
        (staging / DESCRIPTION_FILE).write_text(description.model_dump_json(), encoding="utf-8")
        os.replace(staging, import_dir / import_id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    prune_imports(import_dir, spare={import_id, *keep_running})
    return description


def _as_shown(problem: DataProblem, names: dict[str, str]) -> DataProblem:
    """The problem naming files as the client named them, never by their path on the server."""
    message = problem.message
    for path, shown in names.items():
        message = message.replace(path, shown)
    return replace(problem, file=names.get(problem.file or "", problem.file), message=message)


def _unreadable(err: DataValidationError, path: Path, shown: str, field: str) -> InvalidRequest:
    problem = _as_shown(err.problems[0], {str(path): shown})
    return InvalidRequest(f"{shown} cannot be read: {problem.describe()}", field)


def _attribute_columns(path: Path, shown: str) -> list[str]:
    try:
        return [str(c) for c in read_export(path).table.columns]
    except DataValidationError as err:
        raise _unreadable(err, path, shown, "body.attributes") from None


def _describe(
    import_id: str, sales_path: Path, files: dict[str, UploadedFile], attribute_columns: list[str]
) -> ImportDescription:
    try:
        export = read_export(sales_path)
    except DataValidationError as err:
        raise _unreadable(err, sales_path, files["sales"].name, "body.sales") from None
    sketches = sketch_columns(export)
    suggested = suggest_mapping(export, sketches)
    preview = [
        {str(k): _cell(v) for k, v in row.items()}
        for row in export.table.head(PREVIEW_ROWS).to_dict(orient="records")
    ]
    return ImportDescription(
        import_id=import_id,
        created_at=dt.datetime.now(dt.UTC),
        sales=files["sales"],
        attributes=files.get("attributes"),
        attribute_columns=attribute_columns,
        reading=Reading(
            format="parquet" if export.delimiter is None else "csv",
            delimiter=export.delimiter,
            decimal=export.decimal,
            encoding=export.encoding,
        ),
        rows=len(export.table),
        columns=[Column(**vars(s)) for s in sketches],
        preview=preview,
        suggested=SuggestedMapping(
            **{k: list(v) if isinstance(v, tuple) else v for k, v in vars(suggested).items()}
        ),
    )


def _cell(value: object) -> str | None:
    """A preview cell as text; None when missing (a list in a Parquet cell is shown as text)."""
    try:
        missing = value is None or bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        missing = False
    return None if missing else str(value)


def import_folder(import_dir: Path, import_id: str) -> Path:
    """The folder of an import, after checking the id is one of ours (404 otherwise)."""
    folder = import_dir / import_id
    if not _IMPORT_ID.match(import_id) or not (folder / DESCRIPTION_FILE).is_file():
        raise NotFound(f"unknown import {import_id!r}; upload the file again", "path.import_id")
    return folder


def get_import(import_dir: Path, import_id: str) -> ImportDescription:
    """The description written at upload."""
    folder = import_folder(import_dir, import_id)
    return ImportDescription.model_validate_json((folder / DESCRIPTION_FILE).read_text("utf-8"))


def read_options(description: ImportDescription, mapping: Mapping) -> ReadOptions:
    """The ReadOptions of a mapping; unknown columns are a 422 naming the field and the columns.

    Columns the mapping does not name are dropped (not read).
    """
    columns = [c.name for c in description.columns]
    roles: list[tuple[str, str | None]] = [
        *((f"body.item_cols.{i}", c) for i, c in enumerate(mapping.item_cols)),
        ("body.store_col", mapping.store_col),
        ("body.date_col", mapping.date_col),
        ("body.quantity_col", mapping.quantity_col),
        ("body.time_of_day_col", mapping.time_of_day_col),
        ("body.status_col", mapping.status_col),
        ("body.order_col", mapping.order_col),
    ]
    kept = [(f"body.keep_cols.{i}", c) for i, c in enumerate(mapping.keep_cols)]
    seen: dict[str, str] = {}
    for field, name in [*roles, *kept]:
        if name is None:
            continue
        if name not in columns:
            listed = ", ".join(repr(c) for c in columns[:80])
            raise InvalidRequest(
                f"{field.removeprefix('body.')}: column {name!r} is not in "
                f"{description.sales.name}; its columns are {listed}",
                field,
            )
        if name in seen and not field.startswith("body.keep_cols"):
            raise InvalidRequest(
                f"{field.removeprefix('body.')}: column {name!r} is already mapped as "
                f"{seen[name].removeprefix('body.')}; give each role its own column",
                field,
            )
        seen.setdefault(name, field)
    mapped = {name for _, name in roles if name}
    keep = tuple(dict.fromkeys(c for c in mapping.keep_cols if c not in mapped))
    encoding = description.reading.encoding
    return ReadOptions(
        id_cols=tuple(mapping.item_cols),
        store_col=mapping.store_col,
        time_col=mapping.date_col,
        target_col=mapping.quantity_col,
        clock_col=mapping.time_of_day_col,
        status_col=mapping.status_col,
        order_col=mapping.order_col,
        keep_cols=keep,
        drop_cols=tuple(c for c in columns if c not in mapped and c not in keep),
        delimiter=description.reading.delimiter,
        decimal=description.reading.decimal,
        encoding="utf-8-sig" if encoding in (None, "utf-8") else encoding,
        date_format=mapping.date_format,
        negative=mapping.negative,
        duplicates=mapping.duplicates,
        short_series=mapping.short_series,
        freq=mapping.freq,
    )


def _stored(folder: Path, stem: str) -> Path | None:
    return next((p for p in sorted(folder.glob(f"{stem}.*")) if p.is_file()), None)


def build_datasets(
    folder: Path,
    description: ImportDescription,
    mapping: Mapping,
    progress: Callable[[str], None] = lambda stage: None,
) -> tuple[DemandDataset, TrendDataset]:
    """Read and validate the import and build both datasets, as `anticipate data build` does.

    Raises:
        DataError: the export is invalid (a DataValidationError lists the located problems).
    """
    options = read_options(description, mapping)
    sales = _stored(folder, "sales")
    attributes = _stored(folder, "attributes") if description.attributes else None
    with warnings.catch_warnings():
        # every repaired problem is also one of the dataset's notes, reported with it
        warnings.simplefilter("ignore", DataWarning)
        progress(STAGES[0])
        history = read_sales(sales, attributes, options)  # type: ignore[arg-type]
        progress(STAGES[1])
        demand = build_demand_dataset(history, freq=mapping.freq)
        progress(STAGES[2])
        trend = build_trend_dataset(demand)
    return demand, trend


def check_import(import_dir: Path, import_id: str, mapping: Mapping) -> CheckReport:
    """The validation report of an import under a mapping; nothing is written."""
    folder = import_folder(import_dir, import_id)
    description = get_import(import_dir, import_id)
    try:
        demand, trend = build_datasets(folder, description, mapping)
    except DataError as err:
        return CheckReport(ok=False, problems=problems_of(err, folder, description), notes=[])
    return CheckReport(
        ok=True, problems=[], notes=notes_of(demand, trend), summary=summary_of(demand, trend)
    )


def problems_of(err: DataError, folder: Path, description: ImportDescription) -> list[Problem]:
    """The located problems of an error, naming the files as the client named them."""
    found = (
        err.problems
        if isinstance(err, DataValidationError)
        else [DataProblem("invalid_data", str(err))]
    )
    names = {str(folder / p.name): description.sales.name for p in folder.glob("sales.*")}
    if description.attributes:
        names.update(
            {str(folder / p.name): description.attributes.name for p in folder.glob("attributes.*")}
        )
    problems = []
    for problem in found:
        shown = _as_shown(problem, names)
        problems.append(
            Problem(
                code=shown.code,
                message=shown.message,
                file=shown.file,
                column=shown.column,
                rows=list(shown.rows),
                series=list(shown.unique_ids),
                hint=shown.hint,
                count=shown.count,
                text=shown.describe(),
            )
        )
    return problems


def notes_of(demand: DemandDataset, trend: TrendDataset) -> list[str]:
    """What was repaired or left out on the way (each note once)."""
    return list(dict.fromkeys([*demand.manifest.notes, *trend.manifest.notes]))


def summary_of(demand: DemandDataset, trend: TrendDataset) -> DatasetSummary:
    """Series, rows, dates, frequency, stores and hierarchy levels of the built datasets."""
    manifest = demand.manifest
    stores = demand.static["store"] if "store" in demand.static.columns else pd.Series([])
    return DatasetSummary(
        series=manifest.n_series,
        rows=manifest.n_rows,
        first_date=manifest.start,
        last_date=manifest.end,
        frequency=manifest.freq,
        stores=sorted(str(s) for s in stores.unique()),
        levels=dict(trend.manifest.hierarchy_levels),
        exogenous=list(manifest.exogenous),
    )


def prune_imports(
    import_dir: Path, *, spare: Iterable[str] = (), now: float | None = None
) -> list[str]:
    """Delete imports beyond the KEEP_IMPORTS newest or older than MAX_AGE; returns their ids."""
    spared = set(spare)
    now = dt.datetime.now(dt.UTC).timestamp() if now is None else now
    found = []
    for folder in import_dir.iterdir():
        if folder.name.startswith(_UPLOADING) and now - folder.stat().st_mtime > 3600:
            shutil.rmtree(folder, ignore_errors=True)  # an upload a crash cut short
        elif _IMPORT_ID.match(folder.name) and (folder / DESCRIPTION_FILE).is_file():
            found.append(((folder / DESCRIPTION_FILE).stat().st_mtime, folder))
    found.sort(reverse=True)
    removed = []
    for rank, (stamp, folder) in enumerate(found):
        old = now - stamp > MAX_AGE.total_seconds()
        if (rank >= KEEP_IMPORTS or old) and folder.name not in spared:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    if removed:
        log.info("imports: removed %d old import(s)", len(removed))
    return removed
