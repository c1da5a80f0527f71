"""The planner's workspace: server-rendered pages at /, reading the same /v1 API with a session.

`install_web(app)` adds the pages (Today, Series, Orders, Data, Accuracy, login), the static
files they need (our CSS and scripts, and plotly.js from the pinned plotly package) and the
security headers of the pages. Nothing is fetched from another host: the page works offline.
"""

from __future__ import annotations

from serving.web.pages import install_web

__all__ = ["install_web"]
