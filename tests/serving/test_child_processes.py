"""The API's child processes: a dead writer is replaced, and none outlives a killed server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd

from tests.serving.api_checks import bottom_series
from tests.serving.live_store import Api


def test_a_killed_write_process_costs_one_retryable_answer(api: Api) -> None:
    service = api.client.app.state.service
    uid = bottom_series(api)
    origin = service.live().origin_of[uid]
    rows = [{"unique_id": uid, "ds": str((origin + pd.Timedelta(days=1)).date()), "y": 4.0}]
    pool = service.writes._pool
    assert pool is not None
    for process in list(pool._processes.values()):
        os.kill(process.pid, signal.SIGKILL)
    time.sleep(0.5)
    writer = api.headers("writer")
    first = api.client.post("/v1/actuals", json={"rows": rows}, headers=writer)
    assert first.status_code == 503 and first.headers["Retry-After"] == "1", first.text
    assert "retry" in first.json()["message"]
    again = api.client.post("/v1/actuals", json={"rows": rows}, headers=writer)
    assert again.status_code == 200, again.text
    assert again.json()["inserted"] == 1


def test_the_children_end_when_their_server_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import time
        from serving.write_process import WriteProcess
        writes = WriteProcess("sqlite:///{tmp_path / "ledger.db"}")
        writes.start()
        print(*[p.pid for p in writes._pool._processes.values()], flush=True)
        time.sleep(600)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        children = [int(pid) for pid in parent.stdout.readline().split()]
        assert children
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in children):
        assert time.monotonic() < deadline, "a child outlived its killed parent"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
