"""One router per resource; `ROUTERS` is the order `create_app` includes them in."""

from serving.routes import (
    accuracy,
    actuals,
    admin,
    forecasts,
    health,
    jobs,
    orders,
    series,
    totals,
)

ROUTERS = (
    health.router,
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
