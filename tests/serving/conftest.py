"""Serving test fixtures (in live_store.py, so test modules can import its helpers)."""

from live_store import api, store

__all__ = ["api", "store"]
