"""Loading a registered model leaves the interpreter's import path as it was."""

from __future__ import annotations

import sys

from serving.champion import ModelHolder
from tests.serving.live_store import MODEL, Store


def test_loading_a_model_does_not_put_its_logged_code_on_the_import_path(store: Store) -> None:
    before = list(sys.path)
    holder = ModelHolder(store.tracking_uri, MODEL)
    assert holder.load(store.version), holder.last_error
    assert sys.path == before
