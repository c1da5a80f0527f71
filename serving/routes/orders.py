"""POST /v1/orders: how much to order per series, from the forecast distribution."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import LiveModelDep, ViewerKey
from serving.errors import ERROR_RESPONSES
from serving.orders import OrdersRequest, OrdersResponse, suggest_orders

router = APIRouter(prefix="/v1", tags=["orders"], responses=ERROR_RESPONSES)


@router.post("/orders", response_model=OrdersResponse)
def orders(body: OrdersRequest, live: LiveModelDep, _: ViewerKey) -> OrdersResponse:
    """Suggested order quantities: stock up to the demand quantile over lead time + review.

    Each line also gives the demand expected over that time, the stock-out risk and the
    expected leftover once the suggested order is in.
    """
    return suggest_orders(live, body)
