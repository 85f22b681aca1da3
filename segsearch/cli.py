"""flask commands: tokens, demo data, indices."""
from __future__ import annotations

import click
from flask import Flask
from tqdm import tqdm

from segsearch.extensions import services


def register_cli(app: Flask) -> None:
    app.cli.add_command(tokens)
    app.cli.add_command(demo)
    app.cli.add_command(indices)


@click.group(help="API tokens.")
def tokens() -> None:
    pass


@tokens.command("create", help="Create a token with a role; prints it once.")
@click.option("--role", type=click.Choice(["admin", "marketer", "viewer", "ingest"]), required=True)
@click.option("--name", default="cli")
def tokens_create(role: str, name: str) -> None:
    svc = services()
    svc.ensure_indices()
    click.echo(svc.tokens.create(role, name))


@click.group(help="Demo data.")
def demo() -> None:
    pass


@demo.command("load", help="Generate and load the seeded demo dataset.")
@click.option("--customers", "n", default=20_000, show_default=True)
@click.option("--seed", default=42, show_default=True)
@click.option("--if-empty", is_flag=True, help="Only when the customers index is empty.")
def demo_load(n: int, seed: int, if_empty: bool) -> None:
    import time

    from segsearch import clock
    from segsearch.demo.generator import DemoConfig, catalogue_data, iter_customers
    from segsearch.feed.loader import import_customers, load_catalog

    svc = services()
    svc.ensure_indices()
    if if_empty and svc.es.count(index=svc.indices.customers)["count"] > 0:
        click.echo("customers index is not empty: demo data not loaded")
        return
    config = DemoConfig(customers=n, seed=seed, today=clock.today(svc.config["TIMEZONE"]))
    load_catalog(svc.feed, **catalogue_data(config))
    started = time.monotonic()
    with tqdm(total=n, unit="customers", desc="demo data") as bar:
        written = import_customers(svc.feed, iter_customers(config), progress=bar.update)
    svc.es.indices.refresh(index=svc.indices.customers)
    took = time.monotonic() - started
    click.echo(f"loaded {written} customers in {took:.1f} s ({written / took:.0f} customers/s)")


@click.group(help="Index templates and aliases.")
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
