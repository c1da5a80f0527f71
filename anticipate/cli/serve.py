"""`anticipate serve`: the forecast API under uvicorn; each worker builds the app from settings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated

import typer

from anticipate.cli.output import console
from anticipate.settings import Settings, get_settings

#: Idle seconds between requests before uvicorn closes a kept-alive connection (its default).
KEEP_ALIVE_SECONDS = 5


def http_protocol(settings: Settings) -> Callable[..., asyncio.Protocol]:
    """uvicorn's HTTP protocol with the settings' header and body deadlines for slow clients."""
    from serving.slow_clients import slow_client_protocol

    return slow_client_protocol(settings.header_timeout_seconds, settings.body_timeout_seconds)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="uvicorn worker processes.")] = None,
) -> None:
    """Serve the forecast API (uvicorn) with the champion model; settings from the environment."""
    import uvicorn

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    # Each worker builds the app from the settings (environment, .env) itself.
    console.print(
        f"Anticipate API on http://{host}:{port} (docs at /docs), model {settings.model_name}"
        f"@champion, ledger {settings.database_url}",
        soft_wrap=True,
    )
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
        http=http_protocol(settings),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
