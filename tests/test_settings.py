"""Settings come from ANTICIPATE_* variables (and MLFLOW_TRACKING_URI), with working defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from anticipate.settings import Settings


def test_defaults_need_nothing_running(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Out of the box: a local SQLite MLflow store and a SQLite ledger."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = Settings()
    assert settings.mlflow_tracking_uri == "sqlite:///mlruns/mlflow.db"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.data_dir == Path("data/demo/datasets")
    assert (settings.n_jobs, settings.dask_scheduler) == (-1, None)


def test_environment_and_dotenv_override_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """ANTICIPATE_* variables win over .env, which wins over the defaults."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ANTICIPATE_PORT=9001\nANTICIPATE_N_JOBS=3\n")
    monkeypatch.setenv("ANTICIPATE_N_JOBS", "2")
    monkeypatch.setenv("ANTICIPATE_DASK_SCHEDULER", "tcp://10.0.0.5:8786")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    settings = Settings()
    assert (settings.port, settings.n_jobs) == (9001, 2)
    assert settings.dask_scheduler == "tcp://10.0.0.5:8786"
    assert settings.mlflow_tracking_uri == "http://127.0.0.1:5000"


def test_invalid_values_name_the_field(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A bad port is refused with the field's name, not silently ignored."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANTICIPATE_PORT", "99999")
    with pytest.raises(ValidationError, match="port"):
        Settings()


def test_every_setting_is_read_somewhere() -> None:
    """Each field of Settings is used by the command line or the API (no dead settings)."""
    root = Path(__file__).resolve().parents[1]
    sources = [
        p.read_text(encoding="utf-8")
        for folder in ("anticipate/cli", "serving")
        for p in (root / folder).rglob("*.py")
    ]
    unread = [
        name
        for name in Settings.model_fields
        if not any(re.search(rf"settings(\(\))?\.{name}\b", text) for text in sources)
    ]
    assert not unread, f"settings nothing reads: {unread}"
