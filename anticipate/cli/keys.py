"""`anticipate keys create | list | revoke`: API keys of the forecast API, stored hashed."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from anticipate.cli.output import EXIT_BAD_DATA, console, errors
from anticipate.settings import get_settings

app = typer.Typer(help="API keys of the forecast API.", no_args_is_help=True)


class Role(StrEnum):
    """API key roles: each can do what the ones before it can."""

    viewer = "viewer"
    writer = "writer"
    admin = "admin"


def _ledger():  # type: ignore[no-untyped-def]
    from serving.db import make_engine, migrate

    engine = make_engine(get_settings().database_url)
    migrate(engine)
    return engine


@app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="viewer: read; writer: + actuals; admin: + retrain.")],
    name: Annotated[str, typer.Option(help="Who or what the key is for.")] = "",
    quiet: Annotated[bool, typer.Option(help="Print only the key (for scripts).")] = False,
) -> None:
    """Make an API key and print it once; only its hash is stored."""
    from serving.keys import create_key

    key_id, plaintext = create_key(_ledger(), role.value, name)
    if quiet:
        print(plaintext)
        return
    console.print(f"API key {key_id} ({role.value}{', ' + name if name else ''}):")
    print(plaintext)
    console.print("[yellow]Store it now: it is not shown again.[/]")


@app.command("list")
def keys_list() -> None:
    """Every API key: id, prefix, role, name, created, revoked."""
    from serving.keys import list_keys

    table = Table(title="API keys")
    for column in ("id", "prefix", "role", "name", "created", "revoked"):
        table.add_column(column)
    for key in list_keys(_ledger()):
        table.add_row(
            str(key.id),
            key.prefix,
            key.role,
            key.name or "",
            str(key.created_at)[:19],
            str(key.revoked_at or "")[:19],
        )
    console.print(table)


@app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke a key at once: it answers 401 from now on."""
    from serving.keys import revoke_key

    if not revoke_key(_ledger(), key_id):
        errors.print(f"Error: there is no active key {key_id}", style="bold red")
        raise typer.Exit(EXIT_BAD_DATA)
    console.print(f"key {key_id} revoked")
