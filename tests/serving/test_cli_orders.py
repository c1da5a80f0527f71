"""`anticipate orders --stock stock.csv` answers what POST /v1/orders does, as a CSV."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from live_store import MODEL, Store

from serving.champion import ModelHolder
from serving.orders import OrdersRequest, suggest_orders

pytestmark = pytest.mark.slow


def _run(store: Store, *args: str) -> subprocess.CompletedProcess[str]:
    """`anticipate orders ARGS` on the store, with a ledger that has no actuals (none exists)."""
    env = dict(
        os.environ,
        MLFLOW_TRACKING_URI=store.tracking_uri,
        ANTICIPATE_MODEL_NAME=MODEL,
        ANTICIPATE_DATABASE_URL=f"sqlite:///{store.root / 'no-ledger' / 'ledger.db'}",
    )
    return subprocess.run(
        [sys.executable, "-m", "anticipate.cli", "orders", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_orders_from_a_stock_file(store: Store, tmp_path: Path) -> None:
    holder = ModelHolder(store.tracking_uri, MODEL)
    assert holder.load(), holder.last_error
    live = holder.current
    assert live is not None
    ids = sorted(uid for uid, level in live.level_of.items() if level == "series")[:3]
    stock = tmp_path / "stock.csv"
    stock.write_text(
        "unique_id,on_hand,lead_time,pack_size,unit_cost,unit_price,shelf\n"
        f"{ids[0]},4,2,6,,,a\n{ids[1]},0,0,1,1.2,3.5,b\n{ids[2]},100000,1,1,,,c\n"
    )
    out = tmp_path / "orders.csv"
    done = _run(store, "--stock", str(stock), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ignored column(s) shelf" in done.stderr
    written = pd.read_csv(out)
    expected = suggest_orders(
        live,
        OrdersRequest.model_validate(
            {
                "items": [
                    {"unique_id": ids[0], "on_hand": 4.0, "lead_time": 2, "pack_size": 6.0},
                    {
                        "unique_id": ids[1],
                        "on_hand": 0.0,
                        "lead_time": 0,
                        "unit_cost": 1.2,
                        "unit_price": 3.5,
                    },
                    {"unique_id": ids[2], "on_hand": 100000.0, "lead_time": 1},
                ]
            }
        ),
    )
    want = pd.DataFrame([line.model_dump() for line in expected.orders])
    pd.testing.assert_frame_equal(written, want, check_dtype=False)
    assert written["order_quantity"].iloc[2] == 0


def test_a_bad_stock_file_names_the_row_and_column(store: Store, tmp_path: Path) -> None:
    stock = tmp_path / "stock.csv"
    stock.write_text("unique_id,on_hand,lead_time\na,1,1\nb,lots,1\n")
    done = _run(store, "--stock", str(stock))
    assert done.returncode == 2
    assert f"{stock}, row 3, column on_hand: 'lots' is not a number" in done.stderr, done.stderr
    stock.write_text("unique_id,on_hand,lead_time\na,1,1\nb,-4,1\n")
    done = _run(store, "--stock", str(stock))
    assert done.returncode == 2
    assert f"{stock}, row 3, column on_hand: Input should be greater" in done.stderr, done.stderr
    stock.write_text("unique_id,lead_time\na,1\n")
    done = _run(store, "--stock", str(stock))
    assert done.returncode == 2 and "missing column(s) on_hand" in done.stderr
