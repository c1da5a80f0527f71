"""The notebooks run from top to bottom on a small dataset, and are committed without outputs.

Each notebook's first code cell is tagged "parameters"; the tests replace it with small values
(a tiny demo dataset, horizon 7, fast models, an MLflow store in a temp folder) and execute the
notebook in a real kernel with nbclient.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from mlflow import MlflowClient
from nbclient import NotebookClient

from features.demand import build_demand_dataset
from features.ingest import sales_from_frames
from features.storage import write_demand_dataset, write_trend_dataset
from features.synthetic import make_demo_sales
from features.trend import build_trend_dataset
from training.registry import CHALLENGER, CHAMPION
from training.tracking import EXPERIMENT

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPLORE = NOTEBOOKS / "01_explore_datasets.ipynb"
RETRAIN = NOTEBOOKS / "02_retrain_compare_promote.ipynb"
MODEL_NAME = "anticipate-demand-test"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with demand/ and trend/ as `anticipate data build` writes them (12 series)."""
    folder = tmp_path_factory.mktemp("datasets")
    demo = make_demo_sales(seed=4, n_stores=2, n_bakery_items=5, n_web_items=2, n_days=120)
    demand = build_demand_dataset(sales_from_frames(demo.sales, demo.attributes))
    write_demand_dataset(demand, folder)
    write_trend_dataset(build_trend_dataset(demand), folder)
    return folder


def _parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return next(cell for cell in nb.cells if cell.cell_type == "code")


def _declared(cell: nbformat.NotebookNode) -> set[str]:
    """Names the parameters cell assigns."""
    tree = ast.parse(cell.source)
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def _execute(path: Path, parameters: dict[str, object]) -> nbformat.NotebookNode:
    """Run the notebook with its parameters cell replaced; return it with its outputs."""
    nb = nbformat.read(path, as_version=4)
    cell = _parameters_cell(nb)
    assert set(parameters) == _declared(cell), "the test must set exactly the notebook's parameters"
    cell.source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on the first error
    return nb


def _outputs(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for output in _outputs(nb):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("path", [EXPLORE, RETRAIN], ids=lambda p: p.name)
def test_notebook_is_committed_clean_with_a_parameters_cell(path: Path) -> None:
    """No outputs or execution counts in git, and the first code cell is tagged parameters."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code_cells)
    assert "parameters" in code_cells[0].metadata.get("tags", [])
    assert _declared(code_cells[0]), "the parameters cell holds plain assignments"
    assert "environ" not in "".join(cell.source for cell in code_cells)


@pytest.mark.slow
def test_explore_notebook_draws_its_charts(datasets: Path) -> None:
    """The exploration notebook reads both datasets and draws its charts without an error."""
    nb = _execute(EXPLORE, {"DATA_DIR": str(datasets), "N_SERIES": 3})
    pngs = [o for o in _outputs(nb) if "image/png" in o.get("data", {})]
    assert len(pngs) >= 6
    assert not [o for o in _outputs(nb) if o.output_type == "error"]
    assert "lumpy" in _text(nb) or "intermittent" in _text(nb)


@pytest.mark.slow
def test_retrain_notebook_logs_two_runs_and_keeps_the_champion(
    datasets: Path, tmp_path: Path
) -> None:
    """Two runs are logged and registered; the refused version is forced, then put back."""
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    nb = _execute(
        RETRAIN,
        {
            "DATA_DIR": str(datasets),
            "TRACKING_URI": tracking_uri,
            "ARTIFACT_ROOT": str(tmp_path / "artifacts"),
            "MODEL_NAME": MODEL_NAME,
            "HORIZON": 7,
            "N_JOBS": 1,
            "MEMBERS": ["dynamic_theta", "seasonal_naive"],
            "CHALLENGER_MEMBERS": ["drift"],
            "RESTORE_CHAMPION": True,
        },
    )
    assert "PermissionError: version 2 did not pass the gate" in _text(nb)
    assert any("image/png" in o.get("data", {}) for o in _outputs(nb))
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(run.info.run_name for run in runs) == ["notebook-first", "notebook-second"]
    assert all(run.info.status == "FINISHED" for run in runs)
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "1"
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHALLENGER).version) == "2"
    second = client.get_model_version(MODEL_NAME, "2").tags
    assert second["gate.decision"] == "kept champion" and second["gate.forced"] == "True"
    assert (tmp_path / "artifacts").is_dir()
