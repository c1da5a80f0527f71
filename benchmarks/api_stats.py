"""Latency statistics of one load-generator workload: percentiles, outcomes, drift by time slice."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

#: The measured window is cut into this many slices (10 s each in a 60-s run) to show drift.
SLICES = 6
#: A 503 answer is load shedding (the server refusing with Retry-After), not an error.
SHED = "http_503"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _latency(ms: Sequence[float], prefix: str = "") -> dict[str, float]:
    return {
        f"{prefix}p50_ms": percentile(ms, 50),
        f"{prefix}p90_ms": percentile(ms, 90),
        f"{prefix}p99_ms": percentile(ms, 99),
        f"{prefix}max_ms": max(ms, default=math.nan),
    }


def summarize(
    samples: Sequence[tuple[float, float, float, str]],
    *,
    window_start: float,
    window_end: float,
    timeout: float,
    rate: float | None,
    connections: int,
    late: Sequence[float] = (),
) -> dict[str, Any]:
    """Summary of the requests due in [window_start, window_end): (due, started, ended, outcome).

    Latency runs from the due time (open loop: the schedule; closed loop: the send) to the end of
    the response; a failed request counts with the time it took to fail, a timeout with at least
    `timeout`. `ok_*` figures are over 2xx answers only; `late` (open loop) are the seconds
    the generator itself put each request in its queue after its due time.
    """
    window = sorted((s for s in samples if window_start <= s[0] < window_end), key=lambda s: s[0])
    outcomes = Counter(s[3] for s in window)
    ok = outcomes.get("ok", 0)
    shed = outcomes.get(SHED, 0)
    timeouts = outcomes.get("timeout", 0)
    errors = {k: v for k, v in outcomes.items() if k not in ("ok", SHED)}
    ms = [1000 * (s[2] - s[0]) for s in window]
    ok_ms = [1000 * (s[2] - s[0]) for s in window if s[3] == "ok"]
    wait_ms = [1000 * (s[1] - s[0]) for s in window]
    duration = window_end - window_start
    span = max([window_end, *(s[2] for s in window)]) - window_start
    slice_s = duration / SLICES
    slices = []
    for k in range(SLICES):
        part = [s for s in window if k * slice_s <= s[0] - window_start < (k + 1) * slice_s]
        part_ms = [1000 * (s[2] - s[0]) for s in part]
        slices.append(
            {
                "from_s": k * slice_s,
                "requests": len(part),
                "ok": sum(1 for s in part if s[3] == "ok"),
                "shed": sum(1 for s in part if s[3] == SHED),
                **_latency(part_ms),
            }
        )
    return {
        "shape": "open" if rate else "closed",
        "rate": rate,
        "connections": connections,
        "duration_s": duration,
        "timeout_s": timeout,
        "requests": len(window),
        "ok": ok,
        "shed": shed,
        "shed_share": shed / len(window) if window else math.nan,
        "timeouts": timeouts,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        **_latency(ms),
        **_latency(ok_ms, "ok_"),
        "wait_p99_ms": percentile(wait_ms, 99),
        "late_p99_ms": percentile([1000 * v for v in late], 99),
        "late_max_ms": max((1000 * v for v in late), default=math.nan),
        "span_s": span,
        "throughput_rps": ok / span if span > 0 else math.nan,
        "answered_rps": (ok + shed) / span if span > 0 else math.nan,
        "slice_s": slice_s,
        "slices": slices,
    }


def drift_ms(summary: dict[str, Any]) -> float:
    """p99 of the last slice minus p99 of the first: how much latency grew over the window."""
    slices = [s for s in summary["slices"] if s["requests"]]
    if len(slices) < 2:
        return math.nan
    return float(slices[-1]["p99_ms"] - slices[0]["p99_ms"])


def worst_slice_p99(summary: dict[str, Any]) -> float:
    """The highest per-slice p99 of the window."""
    values = [s["p99_ms"] for s in summary["slices"] if s["requests"]]
    return max(values, default=math.nan)
