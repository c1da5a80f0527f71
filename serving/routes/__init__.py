"""One router per resource; `ROUTERS` is the order `create_app` includes them in."""

from serving.routes import accuracy, actuals, admin, forecasts, health, jobs, orders, series

ROUTERS = (
    health.router,
    series.router,
    forecasts.router,
    orders.router,
    actuals.router,
    accuracy.router,
    jobs.router,
    admin.router,
)

__all__ = ["ROUTERS"]
