"""One router per resource; `ROUTERS` is the order `create_app` includes them in."""

from serving.routes import (
    accuracy,
    actuals,
    admin,
    forecasts,
    health,
    imports,
    jobs,
    orders,
    overview,
    plan,
    series,
    totals,
)

ROUTERS = (
    health.router,
    plan.router,  # before series: its {unique_id} path would take ".../plan"
    overview.router,  # before series: its series_id path takes `/history` too
    series.router,
    forecasts.router,
    totals.router,
    orders.router,
    actuals.router,
    accuracy.router,
    jobs.router,
    admin.router,
    imports.router,
)

__all__ = ["ROUTERS"]
