"""Data in: validated sales -> demand and trend datasets, feature builders, demo and benchmark data.

Pure functions over long frames (`unique_id, ds, y`); nothing here reads the environment.
"""

from features.builders import build_feature_frame
from features.demand import DemandDataset, build_demand_dataset
from features.errors import DataError, DataProblem, DataValidationError, DataWarning
from features.hierarchy import Hierarchy, default_hierarchy
from features.ingest import ReadOptions, SalesHistory, read_sales, sales_from_frames
from features.manifest import Manifest
from features.public_data import CompetitionData, load_competition, load_m3
from features.storage import (
    read_demand_dataset,
    read_trend_dataset,
    write_demand_dataset,
    write_trend_dataset,
)
from features.synthetic import DemoData, make_demo_sales, make_small_panel, write_demo_files
from features.trend import TrendDataset, build_trend_dataset, direction_labels

__all__ = [
    "CompetitionData",
    "DataError",
    "DataProblem",
    "DataValidationError",
    "DataWarning",
    "DemandDataset",
    "DemoData",
    "Hierarchy",
    "Manifest",
    "ReadOptions",
    "SalesHistory",
    "TrendDataset",
    "build_demand_dataset",
    "build_feature_frame",
    "build_trend_dataset",
    "default_hierarchy",
    "direction_labels",
    "load_competition",
    "load_m3",
    "make_demo_sales",
    "make_small_panel",
    "read_demand_dataset",
    "read_sales",
    "read_trend_dataset",
    "sales_from_frames",
    "write_demand_dataset",
    "write_demo_files",
    "write_trend_dataset",
]
