"""flask commands: tokens, demo data, indices.

The groups are AppGroups, so every command runs inside the app context (also when invoked
through the test CLI runner)."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from tqdm import tqdm

from segsearch.auth.roles import ROLES
from segsearch.errors import NotFound
from segsearch.extensions import services
from segsearch.notify.paging import decode_cursor


def register_cli(app: Flask) -> None:
    app.cli.add_command(tokens)
    app.cli.add_command(demo)
    app.cli.add_command(indices)


@click.group(cls=AppGroup, help="API tokens.")
def tokens() -> None:
    pass


@tokens.command("create", help="Create a token with a role; prints it once.")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", default="cli")
def tokens_create(role: str, name: str) -> None:
    svc = services()
    svc.ensure_indices()
    click.echo(svc.tokens.create(role, name))


@tokens.command("list", help="List tokens, newest first (id, role, created, name); never secrets.")
def tokens_list() -> None:
    svc = services()
    svc.ensure_indices()
    after = None
    while True:
        result = svc.tokens.list(page_size=1000, after=after)
        for item in result["items"]:
            click.echo(f"{item['id']}\t{item['role']}\t{item['created_at'] or '-'}\t{item['name']}")
        if result["next_cursor"] is None:
            return
        after = decode_cursor(result["next_cursor"])


@tokens.command("revoke", help="Revoke a token by its id: its next request is refused (401).")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    svc = services()
    svc.ensure_indices()
    try:
        svc.tokens.revoke(token_id)
    except NotFound as err:
        raise click.ClickException(err.message) from None
    click.echo(f"revoked {token_id}")


@click.group(cls=AppGroup, help="Demo data.")
def demo() -> None:
    pass


@demo.command("load", help="Generate and load the seeded demo dataset.")
@click.option("--customers", "n", default=20_000, show_default=True)
@click.option("--seed", default=42, show_default=True)
@click.option("--if-empty", is_flag=True, help="Only when the customers index is empty.")
def demo_load(n: int, seed: int, if_empty: bool) -> None:
    import time

    from segsearch import clock
    from segsearch.demo.generator import DemoConfig, catalogue_data
    from segsearch.feed.loader import import_generated, load_catalog

    svc = services()
    svc.ensure_indices()
    if if_empty and svc.es.count(index=svc.indices.customers)["count"] > 0:
        click.echo("customers index is not empty: demo data not loaded")
        return
    config = DemoConfig(customers=n, seed=seed, today=clock.today(svc.config["TIMEZONE"]))
    load_catalog(svc.feed, **catalogue_data(config))
    started = time.monotonic()
    with tqdm(total=n, unit="customers", desc="demo data") as bar:
        def advance(count: int) -> None:
            bar.update(count)

        written, _ = import_generated(svc.feed, config, progress=advance)
    svc.es.indices.refresh(index=svc.indices.customers)
    took = time.monotonic() - started
    click.echo(f"loaded {written} customers in {took:.1f} s ({written / took:.0f} customers/s)")


@click.group(cls=AppGroup, help="Index templates and aliases.")
def indices() -> None:
    pass


@indices.command("ensure", help="Apply index templates and create missing aliases.")
def indices_ensure() -> None:
    svc = services()
    from segsearch.search import indices as idx
    idx.ensure(svc.es, svc.indices)
    click.echo("ok")


@indices.command("reindex", help="Copy an alias's index into a new version and swap the alias.")
@click.argument("kind", type=click.Choice(["customers", "products", "product-groups",
                                           "custom-fields", "tokens"]))
def indices_reindex(kind: str) -> None:
    from segsearch.search import indices as idx
    svc = services()
    extra = None
    if kind == "customers":
        from segsearch.feed.catalog import CUSTOM_MAPPING
        fields = svc.feed.catalog.custom_fields()
        extra = {"custom": {"properties": {f["code"]: CUSTOM_MAPPING[f["type"]] for f in fields}},
                 "custom_md": {"properties": {f["code"]: {"type": "short"}
                                              for f in fields if f["type"] == "date"}}}
    click.echo(idx.reindex(svc.es, svc.indices.alias(kind), extra))
