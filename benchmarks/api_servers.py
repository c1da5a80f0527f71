"""Server processes for the API benchmark: start one in its own session, time it to ready, stop it.

Also runs the load generator (benchmarks/loadgen.py) in a process of its own and charges CPU time
to each side: the server's process group from /proc, the load generator from its own rusage.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.api_setup import BIN, REPO, free_port

#: How long a server may take to answer its readiness probe before the benchmark gives up.
START_LIMIT_S = 600
#: Readiness is probed this often, so start-up times are exact to about this much.
PROBE_EVERY_S = 0.05


@dataclass
class Server:
    """A server process group started by us: its name, base URL, process, log and start time."""

    name: str
    base: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    ready_s: float = float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU time of every live process in the server's process group."""
        tick = os.sysconf("SC_CLK_TCK")
        # after the command: state ppid pgrp ... utime (index 11) stime (12)
        stats = group_stat_fields(self.process.pid).values()
        return sum(int(f[11]) + int(f[12]) for f in stats) / tick

    def check_alive(self, during: str) -> None:
        """Raise, with the exit status and the log's end, if the server is no longer running."""
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(
                f"{self.name} exited with status {code} during {during}:\n"
                f"{self.log.read_text(errors='replace')[-3000:]}"
            )

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL it if it has not ended after 30 s."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def group_stat_fields(pgid: int) -> dict[int, list[str]]:
    """The /proc/<pid>/stat fields after the command name of every process of group `pgid`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            found[int(entry.name)] = fields
    return found


def start(name: str, command: list[str], env: dict[str, str], ready: str, logs: Path) -> Server:
    """Start `command` (+ a free port) in its own session; wait until GET `ready` answers 200.

    `ready_s` is the time from the process start to the first 200 answer.
    """
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )
    server = Server(name, f"http://127.0.0.1:{port}", port, process, log)
    with httpx.Client(timeout=5) as http:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log.read_text()[-3000:]}")
            try:
                if http.get(server.base + ready).status_code == 200:
                    server.ready_s = time.perf_counter() - started
                    return server
            except httpx.TransportError:
                pass
            if time.perf_counter() - started > START_LIMIT_S:
                server.stop()
                raise RuntimeError(f"{name} never got ready:\n{log.read_text()[-3000:]}")
            time.sleep(PROBE_EVERY_S)


def ours_command() -> list[str]:
    """`anticipate serve` with one worker on loopback (the port is added by `start`)."""
    return [str(BIN / "anticipate"), "serve", "--host", "127.0.0.1", "--workers", "1"]


def mlflow_command(model_uri: str) -> list[str]:
    """`mlflow models serve` of `model_uri` in this environment, one worker on loopback."""
    return [
        str(BIN / "mlflow"),
        "models",
        "serve",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-w",
        "1",
        "-m",
        model_uri,
    ]


def busy_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy so far (all cores, from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_load(server: Server, workloads: list[dict[str, Any]], scratch: Path, label: str) -> dict:
    """Run one plan of `workloads` against `server` in a load-generator process; its summary.

    Adds `server_cpu_share`, `loadgen_cpu_share` (CPU seconds over wall seconds, warm-up
    included; 1.0 = one core), `other_cpu_share` (the rest of the machine: kernel, other
    programs) and the load generator's exact command.
    """
    plan = scratch / f"plan-{label}.json"
    out = scratch / f"result-{label}.json"
    plan.write_text(json.dumps({"host": "127.0.0.1", "port": server.port, "workloads": workloads}))
    command = [sys.executable, "-m", "benchmarks.loadgen", "--plan", str(plan), "--out", str(out)]
    before, busy_before, child_before = server.cpu_seconds(), busy_cpu_seconds(), _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    server_cpu = server.cpu_seconds() - before
    other = busy_cpu_seconds() - busy_before - server_cpu - (_children_cpu() - child_before)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({label}):\n{done.stderr[-3000:]}")
    result = json.loads(out.read_text())
    result.update(
        label=label,
        server=server.name,
        server_cpu_share=server_cpu / wall,
        loadgen_cpu_share=result["cpu_share"],
        other_cpu_share=max(0.0, other) / wall,
        command=f"python -m benchmarks.loadgen --plan {plan.name} --out {out.name}",
    )
    return result


def workload(
    name: str,
    path: str,
    bodies: list[str],
    headers: dict[str, str],
    *,
    connections: int,
    duration: float,
    warmup: float,
    rate: float | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """One plan entry for benchmarks/loadgen.py."""
    return {
        "name": name,
        "path": path,
        "bodies": bodies,
        "headers": headers,
        "connections": connections,
        "duration": duration,
        "warmup": warmup,
        "rate": rate,
        "timeout": timeout,
    }
