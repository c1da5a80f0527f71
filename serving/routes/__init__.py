"""One router per resource; `ROUTERS` is the order `create_app` includes them in."""

from serving.routes import (
    accuracy,
    actuals,
    admin,
    forecasts,
    health,
    jobs,
    orders,
    plan,
    series,
    totals,
)

ROUTERS = (
    health.router,
    plan.router,  # before series: its {unique_id} path would take ".../plan"
    series.router,
    forecasts.router,
    totals.router,
    orders.router,
    actuals.router,
    accuracy.router,
    jobs.router,
    admin.router,
)

__all__ = ["ROUTERS"]
