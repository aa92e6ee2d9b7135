"""`flask oms demo-data`: added to the OMS command group through its plugin hook."""
from __future__ import annotations

import click

from oms_core.errors import DomainError
from oms_core.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    @cli.command("demo-data")
    @click.option("--seed", default=None, type=int, help="Random seed (same seed, same shop).")
    @click.option("--days", default=730, show_default=True, help="Days of order history.")
    def demo_data_command(seed, days):
        """Fill an empty shop with demo products and order history."""
        from . import demo_data

        try:
            summary = demo_data.generate(demo_data.DEFAULT_SEED if seed is None else seed, days=days)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{summary.products} products, {summary.customers} customers, {summary.orders} orders.")
