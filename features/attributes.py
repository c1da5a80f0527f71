"""Check an attributes table (unique_id -> category, store, ...) against the sales it describes."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from features.errors import DataProblem, DataValidationError, DataWarning
from features.parsing import missing_mask
from features.schema import ID
from features.validation import located_rows, offending_ids

#: What series without a row in the attributes table are filed under, so totals still add up.
UNASSIGNED = "unassigned"


def validate_attributes(
    table: pd.DataFrame, panel: pd.DataFrame, static: pd.DataFrame, source: str
) -> tuple[pd.DataFrame, list[str]]:
    """Check an attributes table against the sales panel and merge it with static sales columns."""
    problems: list[DataProblem] = []
    notes: list[str] = []
    table = table.reset_index(drop=True)
    row_numbers = np.arange(len(table)) + 2
    table = table.apply(lambda c: c.str.strip())
    ids = table[ID]
    no_id = missing_mask(ids)
    if no_id.any():
        problems.append(
            DataProblem(
                "missing_id",
                f"{no_id.sum()} attribute row(s) have no series id",
                file=source,
                column=ID,
                **located_rows(no_id, row_numbers),  # type: ignore[arg-type]
            )
        )
    repeated = table.duplicated(ID, keep=False).to_numpy() & ~no_id
    conflicting = repeated & ~table.duplicated(keep=False).to_numpy()
    if conflicting.any():
        problems.append(
            DataProblem(
                "duplicate_attributes",
                "series appear more than once with different attributes",
                file=source,
                column=ID,
                unique_ids=offending_ids(conflicting, ids),
                hint="keep one row per series",
                **located_rows(conflicting, row_numbers),  # type: ignore[arg-type]
            )
        )
    known = set(panel[ID].unique())
    unknown = ~ids.isin(known).to_numpy() & ~no_id
    if unknown.any():
        problems.append(
            DataProblem(
                "unknown_ids",
                f"{len(set(ids[unknown]))} series in the attributes table have no sales",
                file=source,
                column=ID,
                unique_ids=offending_ids(unknown, ids),
                hint="check the ids for typos, or remove products that never sold",
                **located_rows(unknown, row_numbers),  # type: ignore[arg-type]
            )
        )
    if problems:
        raise DataValidationError(problems, source=source)
    attributes = table.drop_duplicates(ID)
    extra_static = [c for c in static.columns if c != ID and c not in attributes.columns]
    merged = pd.DataFrame({ID: sorted(known)}).astype("str")
    merged = merged.merge(attributes, on=ID, how="left")
    if extra_static:
        merged = merged.merge(static[[ID, *extra_static]], on=ID, how="left")
    lacking = merged.drop(columns=[ID]).isna().any(axis=1)
    if lacking.any():
        message = (
            f"{int(lacking.sum())} series have no attributes and are filed as '{UNASSIGNED}': "
            + ", ".join(merged.loc[lacking, ID].head(5))
        )
        warnings.warn(message, DataWarning, stacklevel=3)
        notes.append(message)
    return merged.fillna(UNASSIGNED).astype("str"), notes
