"""The manifest that travels with a dataset, so a training run can record exactly what it used.

The content hash covers the data and the column types, not the file bytes, so the same data
written by another pyarrow version keeps its hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

MANIFEST_FILE = "manifest.json"


def content_hash(*frames: pd.DataFrame) -> str:
    """SHA-256 over the columns, dtypes and values of the frames, independent of their index."""
    digest = hashlib.sha256()
    for frame in frames:
        header = "|".join(f"{c}:{t}" for c, t in frame.dtypes.astype("str").items())
        digest.update(header.encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """What a dataset holds and where it came from."""

    kind: str
    freq: str
    freq_alias: str
    n_series: int
    n_rows: int
    start: str
    end: str
    content_hash: str
    columns: list[str]
    exogenous: list[str] = field(default_factory=list)
    hierarchy_levels: dict[str, int] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    units_sold: float = 0.0
    dropped_units: float = 0.0
    version: str = "1"

    def to_json(self) -> str:
        """The manifest as indented JSON text."""
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Read a manifest back from its JSON text (old ones call hierarchy_levels "levels")."""
        data = json.loads(text)
        if "levels" in data and "hierarchy_levels" not in data:
            data["hierarchy_levels"] = data.pop("levels")
        return cls(**data)

    def write(self, folder: Path) -> Path:
        """Write manifest.json into `folder`."""
        path = folder / MANIFEST_FILE
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """Read manifest.json from `folder`."""
        return cls.from_json((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
