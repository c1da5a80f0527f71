"""Model registry: every training registers a version; only a better backtest becomes champion.

The gate compares the candidate's backtest MASE with the current champion's on the same data and
windows: the champion's configuration is backtested again on the candidate's data (its score from
its own, older data would not be comparable). The rule and both scores are recorded as version
tags; the loser gets the `challenger` alias. A failure while registering deletes the half-made
version, and the champion alias only moves after everything else succeeded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

MODEL_NAME = "anticipate-demand"
CHAMPION = "champion"
CHALLENGER = "challenger"
GATE_METRIC = "mase"
#: A candidate must be better by more than this relative margin; a retrain on unchanged data ties.
TIE_TOLERANCE = 1e-6
RULE = (
    f"candidate backtest {GATE_METRIC} < champion backtest {GATE_METRIC} x (1 - {TIE_TOLERANCE}) "
    "on the same data and windows"
)


@dataclass(frozen=True)
class GateDecision:
    """What the promotion gate decided for a new version, and why."""

    version: str
    promoted: bool
    candidate_score: float
    champion_score: float | None
    champion_version: str | None
    rule: str = RULE


def champion_version(client: MlflowClient, name: str = MODEL_NAME) -> str | None:
    """The version the champion alias points at, if any."""
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def register_with_gate(
    client: MlflowClient,
    model_uri: str,
    run_id: str,
    candidate_score: float,
    champion_score_on_same_data: Callable[[str], float] | None,
    *,
    name: str = MODEL_NAME,
    verify: Callable[[str], None] | None = None,
) -> GateDecision:
    """Register `model_uri` as a new version and give it `champion` only if it wins the gate.

    `champion_score_on_same_data(version)` re-scores the current champion on the candidate's data.
    `verify(version)` loads and tries the registered version before any alias points at it; if it
    raises (or the process is interrupted), the version is deleted and no alias moves.
    """
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    current = champion_version(client, name)
    champion_score = None
    if current is not None and champion_score_on_same_data is not None:
        champion_score = float(champion_score_on_same_data(current))
    promoted = current is None or (
        math.isfinite(candidate_score)
        and (
            champion_score is None
            or not math.isfinite(champion_score)
            or candidate_score < champion_score * (1 - TIE_TOLERANCE)
        )
    )
    model_id = model_uri.rsplit("/", 1)[-1] if model_uri.startswith("models:/m-") else None
    source = client.get_logged_model(model_id).artifact_location if model_id else model_uri
    version = client.create_model_version(name, source, run_id=run_id, model_id=model_id)
    try:
        if verify is not None:
            verify(str(version.version))
        tags = {
            "gate.rule": RULE,
            "gate.candidate_" + GATE_METRIC: f"{candidate_score:.6f}",
            "gate.champion_" + GATE_METRIC: ""
            if champion_score is None
            else f"{champion_score:.6f}",
            "gate.champion_version": current or "",
            "gate.decision": "promoted" if promoted else "kept champion",
        }
        for key, value in tags.items():
            client.set_model_version_tag(name, version.version, key, value)
        client.set_registered_model_alias(
            name, CHAMPION if promoted else CHALLENGER, version.version
        )
    except BaseException:
        client.delete_model_version(name, version.version)
        raise
    return GateDecision(str(version.version), promoted, candidate_score, champion_score, current)


def promote(
    client: MlflowClient, version: str, *, force: bool = False, name: str = MODEL_NAME
) -> None:
    """Point `champion` at `version`; a version the gate turned down needs `force`."""
    model_version = client.get_model_version(name, version)
    decision = model_version.tags.get("gate.decision", "")
    if decision != "promoted" and not force:
        raise PermissionError(
            f"version {version} did not pass the gate ({decision or 'no gate record'}); "
            "pass --force to promote it anyway"
        )
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(
        name, version, "gate.forced", str(force and decision != "promoted")
    )
