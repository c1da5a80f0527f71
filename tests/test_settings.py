"""Settings come from ANTICIPATE_* variables (and MLFLOW_TRACKING_URI), with working defaults."""

from __future__ import annotations

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
    assert settings.data_dir == Path("data")


def test_environment_and_dotenv_override_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """ANTICIPATE_* variables win over .env, which wins over the defaults."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ANTICIPATE_PORT=9001\nANTICIPATE_COUNTRY=FR\n")
    monkeypatch.setenv("ANTICIPATE_COUNTRY", "AT")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    settings = Settings()
    assert (settings.port, settings.country) == (9001, "AT")
    assert settings.mlflow_tracking_uri == "http://127.0.0.1:5000"


def test_invalid_values_name_the_field(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A bad port is refused with the field's name, not silently ignored."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANTICIPATE_PORT", "99999")
    with pytest.raises(ValidationError, match="port"):
        Settings()
