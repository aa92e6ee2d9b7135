"""`flask oms ...`: schema, users, plugins, the outbox worker, forecasts and checks."""
from __future__ import annotations

import signal

import click
from flask.cli import AppGroup

from . import schema
from .errors import DomainError, SchemaOutdated
from .progress import ProgressBars
from .plugins import PluginRegistry


def _require_schema() -> None:
    try:
        schema.check_current()
    except SchemaOutdated as exc:
        raise click.ClickException(str(exc)) from None


def build_cli(registry: PluginRegistry) -> AppGroup:
    oms = AppGroup("oms", help="Order management: schema, users, plugins, worker.")
    db_group = AppGroup("db", help="Database schema (Alembic migrations).")
    oms.add_command(db_group)

    @db_group.command("upgrade")
    @click.argument("revision", default="head")
    def db_upgrade(revision):
        """Create or upgrade the OMS tables."""
        schema.upgrade(revision)
        click.echo(f"OMS schema at {schema.current_revision()}.")

    @db_group.command("downgrade")
    @click.argument("revision")
    def db_downgrade(revision):
        """Downgrade the OMS tables to REVISION."""
        schema.downgrade(revision)
        click.echo(f"OMS schema at {schema.current_revision() or 'base (no OMS tables)'}.")

    @db_group.command("current")
    def db_current():
        """Show the schema revision and whether it is up to date."""
        current, head = schema.current_revision(), schema.head_revision()
        click.echo(f"database: {current or 'empty'}\ncode:     {head}")
        if current != head:
            raise click.ClickException("Outdated: run `flask oms db upgrade`.")

    @oms.command("create-user")
    @click.option("--email", required=True)
    @click.option("--name", required=True)
    @click.option("--role", type=click.Choice(["owner", "staff"]), default="staff", show_default=True)
    @click.password_option()
    def create_user(email, name, role, password):
        """Create a back-office user."""
        from .services import users

        _require_schema()
        try:
            user = users.create_user(email=email, name=name, password=password, role=role)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Created {user.role} {user.email}.")

    @oms.command("plugins")
    def plugins():
        """List loaded plugins with versions and hooks, and what they registered."""
        for info in registry.plugins():
            version = f" {info.version}" if info.version else ""
            dist = f" ({info.distribution}{', built in' if info.builtin else ''})" if info.distribution else ""
            click.echo(f"{info.name}{version}{dist}: {', '.join(info.hooks)}")
        for kind, objects in (("payment", registry.gateways), ("carrier", registry.carriers),
                              ("forecaster", registry.forecasters)):
            for obj_id, obj in sorted(objects.items()):
                click.echo(f"  {kind} {obj_id}: {obj.label}")

    @oms.command("worker")
    @click.option("--once", is_flag=True, help="Send what is due now, then exit.")
    @click.option("--poll", default=2.0, show_default=True, help="Seconds to sleep when idle.")
    def worker(once, poll):
        """Send outbox messages (emails, carrier bookings) with retries, re-forecast
        demand every FORECAST_EVERY_HOURS, and match waiting webhook events again."""
        from .forecasting.schedule import ForecastSchedule
        from .services import outbox
        from .services.webhooks import RematchSchedule

        _require_schema()
        if once:
            sent, failed = outbox.run_once(limit=1000)
            click.echo(f"{sent} sent, {failed} failed")
            return
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        forecast, rematch = ForecastSchedule(echo=click.echo), RematchSchedule()
        try:
            outbox.run_worker(poll_seconds=poll, stop=lambda: bool(stopping), echo=click.echo,
                              each_round=lambda: (forecast(), rematch()))
        except KeyboardInterrupt:
            pass
        click.echo("worker stopped")

    @oms.command("forecast")
    @click.option("--backtest", is_flag=True,
                  help="Hold out the last season and score every installed forecaster on it.")
    @click.option("--forecaster", "forecaster_id", metavar="ID",
                  help="Use this forecaster instead of the config's FORECASTER.")
    def forecast(backtest, forecaster_id):
        """Forecast demand per product from the order history and store it."""
        from .forecasting import runs
        from .forecasting.report import echo_backtest, echo_forecast

        _require_schema()
        if backtest and forecaster_id:
            raise click.UsageError("--backtest scores every installed forecaster; drop --forecaster.")
        with ProgressBars() as progress:
            try:
                run = (runs.run_backtest(progress=progress) if backtest
                       else runs.run_forecast(forecaster_id=forecaster_id, progress=progress))
            except DomainError as exc:
                raise click.ClickException(str(exc)) from None
        (echo_backtest if backtest else echo_forecast)(run, click.echo)

    @oms.command("check-stock")
    def check_stock():
        """Verify that every product's stock equals its ledger's sum."""
        from .services import stock

        _require_schema()
        bad = stock.ledger_mismatches()
        for sku, on_hand, ledger_on_hand, reserved, ledger_reserved in bad:
            click.echo(f"{sku}: on hand {on_hand} vs ledger {ledger_on_hand}; "
                       f"reserved {reserved} vs ledger {ledger_reserved}")
        if bad:
            raise click.ClickException(f"{len(bad)} product(s) disagree with the ledger.")
        click.echo("Stock matches the ledger.")

    registry.hook.register_commands(cli=oms)
    return oms
