"""`flask oms ...`: schema, users, plugins, the outbox worker, forecasts and checks."""
from __future__ import annotations

import signal
from pathlib import Path

import click
from flask.cli import AppGroup

from . import scaffold, schema
from .constants import CONFIG_PREFIX, ENTRY_POINT_GROUP
from .errors import DomainError, SchemaOutdated
from .progress import ProgressBars
from .plugin_settings import ENVIRONMENT_PREFIX
from .plugins import KINDS, PluginRegistry


# How the command line appears on the staff audit trail.
CLI_ACTOR = "cli"


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
        from .services import staff

        _require_schema()
        try:
            user = staff.create_user(email=email, name=name, password=password, role=role, actor=CLI_ACTOR)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Created {user.role} {user.email}.")

    @oms.command("set-password")
    @click.option("--email", required=True)
    @click.password_option()
    def set_password(email, password):
        """Give a back-office user a new password; their sessions end."""
        from .services import staff

        _require_schema()
        try:
            user = staff.set_password(email, password, actor=CLI_ACTOR)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"New password set for {user.email}; their sessions have ended.")

    @oms.command("deactivate-user")
    @click.option("--email", required=True)
    @click.option("--undo", is_flag=True, help="Reactivate the user instead.")
    def deactivate_user(email, undo):
        """Stop a back-office user from logging in; their sessions end at once. The
        shop's last active owner cannot be deactivated."""
        from .services import staff

        _require_schema()
        try:
            user = staff.set_active_by_email(email, undo, actor=CLI_ACTOR)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{user.email} can log in again." if undo
                   else f"{user.email} is deactivated; their sessions have ended.")

    @oms.command("plugins")
    def plugins():
        """List loaded plugins with versions and hooks, and what they registered; a
        gateway, carrier or forecaster missing required settings is NOT CONFIGURED,
        with the names of those settings (never their values)."""
        for info in registry.plugins():
            version = f" {info.version}" if info.version else ""
            built_in = ", built in" if info.builtin else ""
            dist = f" ({info.distribution}{built_in})" if info.distribution else ""
            click.echo(f"{info.name}{version}{dist}: {', '.join(info.hooks)}")
        for kind in KINDS:
            for status in registry.status(kind):
                obj = status.obj
                flag = "" if status.configured else " (NOT CONFIGURED)"
                click.echo(f"  {kind} {obj.id}: {obj.label}{flag}")
                for name, variable in zip(status.missing, status.environment_names):
                    click.echo(f"      missing setting {name}: set {CONFIG_PREFIX}PLUGINS['{obj.id}']"
                               f"['{name}'] or {variable}")

    @oms.command("new-plugin", with_appcontext=False)
    @click.option("--kind", type=click.Choice(scaffold.KINDS), required=True,
                  help="What the plugin registers.")
    @click.option("--directory", type=click.Path(file_okay=False, path_type=Path), default=".",
                  show_default=True, help="Where to write its folder.")
    @click.argument("name")
    def new_plugin(kind, directory, name):
        """Write a ready plugin distribution flask-oms-NAME: pyproject.toml with its entry
        point, a working example module, a README, and tests using the test kit."""
        try:
            names = scaffold.plugin_names(name)
            root = scaffold.write(kind, names, directory, taken=scaffold.taken_names(registry))
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Wrote {root} ({kind} '{names.object_id}', entry point in {ENTRY_POINT_GROUP}):")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            click.echo(f"  {path.relative_to(root)}")
        click.echo(f"Next: cd {root} && pip install -e '.[test]' && pytest\n"
                   f"Then `flask oms plugins` lists it; set its settings in {CONFIG_PREFIX}PLUGINS"
                   f"['{names.object_id}'] or as {ENVIRONMENT_PREFIX}{names.object_id.upper()}_<NAME>.")

    @oms.command("worker")
    @click.option("--once", is_flag=True, help="Send what is due now, then exit.")
    @click.option("--poll", default=2.0, show_default=True, help="Seconds to sleep when idle.")
    def worker(once, poll):
        """Send outbox messages (emails, carrier bookings) with retries, re-forecast
        demand every FORECAST_EVERY_HOURS, match waiting webhook events again, ask the
        gateways about payments whose webhook is late, render the PDFs of documents
        issued since its last pass, poll carriers without webhooks for tracking
        events, remind and expire unpaid orders, and raise and send staff alerts."""
        from .services import outbox
        from .services.tracking_poll import poll_schedule
        from .services.documents import render_schedule
        from .services.forecast_schedule import forecast_schedule
        from .services.payment_sync import sync_schedule
        from .services.webhooks import rematch_schedule
        from .services import alerts, unpaid

        _require_schema()
        if once:
            sent, failed = outbox.run_once(limit=1000)
            click.echo(f"{sent} sent, {failed} failed")
            return
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        forecast, rematch, render = forecast_schedule(echo=click.echo), rematch_schedule(), render_schedule()
        track, sync = poll_schedule(), sync_schedule()
        expire, sweep = unpaid.schedule(), alerts.schedule()
        try:
            outbox.run_worker(poll_seconds=poll, stop=lambda: bool(stopping), echo=click.echo,
                              each_round=lambda: (forecast(), rematch(), sync(), expire(), render(), track(),
                                                  sweep()))
        except KeyboardInterrupt:
            pass
        click.echo("worker stopped")

    @oms.command("track")
    def track():
        """Poll carriers without webhooks for the tracking events of open parcels
        (each parcel at most every OMS_TRACK_EVERY_MINUTES)."""
        from .services.tracking_poll import Poller

        _require_schema()
        for carrier_id, outcome in Poller()().items():
            problem = f"; failed: {outcome.errors[0]}" if outcome.errors else ""
            click.echo(f"{carrier_id}: {outcome.asked} parcels asked, {outcome.applied} new events{problem}")

    @oms.command("forecast")
    @click.option("--backtest", is_flag=True,
                  help="Hold out the last season and score every installed forecaster on it.")
    @click.option("--forecaster", "forecaster_id", metavar="ID",
                  help="Use this forecaster instead of the config's FORECASTER.")
    def forecast(backtest, forecaster_id):
        """Forecast demand per product from the order history and store it."""
        from .services import forecast_runs

        _require_schema()
        if backtest and forecaster_id:
            raise click.UsageError("--backtest scores every installed forecaster; drop --forecaster.")
        with ProgressBars() as progress:
            try:
                run = (forecast_runs.run_backtest(progress=progress) if backtest
                       else forecast_runs.run_forecast(forecaster_id=forecaster_id, progress=progress))
            except DomainError as exc:
                raise click.ClickException(str(exc)) from None
        (_echo_backtest if backtest else _echo_forecast)(run)

    @oms.command("check-stock")
    def check_stock():
        """Verify that every product's stock equals its ledger's sum, and that no counter
        or ledger row holds a number no real change can produce."""
        from .services import stock

        _require_schema()
        bad = stock.ledger_mismatches()
        for sku, on_hand, ledger_on_hand, reserved, ledger_reserved in bad:
            click.echo(f"{sku}: on hand {on_hand} vs ledger {ledger_on_hand}; "
                       f"reserved {reserved} vs ledger {ledger_reserved}")
        problems = stock.stock_problems()
        for line in problems:
            click.echo(line)
        if bad or problems:
            raise click.ClickException(" ".join(
                ([f"{len(bad)} product(s) disagree with the ledger."] if bad else [])
                + ([f"{len(problems)} value(s) out of range."] if problems else [])))
        click.echo("Stock matches the ledger.")

    def _import(service_name: str, path: Path) -> None:
        from . import runtime
        from .services import csv_import

        _require_schema()
        max_bytes = runtime.setting("IMPORT_MAX_BYTES")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # the service refuses what is larger
        try:
            report = getattr(csv_import, service_name)(data, actor=f"cli:{path.name}"[:200])
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
        for label, _id in report.created:
            click.echo(f"created\t{label}")
        for problem in report.errors:
            click.echo(f"row {', '.join(map(str, problem.rows))}\t{problem.message}")
        click.echo(report.summary())
        if not report.ok:
            raise SystemExit(1)

    @oms.command("import-orders")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def import_orders(file):
        """Import orders from another channel from a CSV FILE (the columns are in
        docs/architecture.md; Shopify's orders export too). Importing a file again
        creates nothing new. Exit code 1 when any row is refused."""
        _import("import_orders", file)

    @oms.command("import-products")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def import_products(file):
        """Create or update products and set their stock from a CSV FILE. Exit code 1
        when any row is refused."""
        _import("import_products", file)

    @oms.command("reconcile")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per row.")
    def reconcile(as_json):
        """List what does not add up between the payment gateways and the orders;
        exit code 1 when anything needs attention (for cron)."""
        import json

        from .money import format_amount
        from .services import reconciliation

        _require_schema()
        rows = reconciliation.rows()
        for row in rows:
            if as_json:
                click.echo(json.dumps(row.as_json(), sort_keys=True))
                continue
            amount = format_amount(row.amount_minor, row.currency) if row.currency else "-"
            click.echo(f"{row.kind}\torder {row.order_id or '-'}\t{amount}\t"
                       f"{int(row.age.total_seconds() // 3600)}h\t{row.reason}\t"
                       f"[{', '.join(row.actions)}]")
        if rows:
            raise SystemExit(1)
        if not as_json:
            click.echo("Everything adds up.")

    @oms.command("sync-payments")
    @click.option("--limit", default=None, type=click.IntRange(1, 10_000),
                  help="At most this many payments (default OMS_PAYMENT_SYNC_BATCH).")
    def sync_payments(limit):
        """Ask the gateways about started payments whose webhook is late (older than
        OMS_PAYMENT_SYNC_AFTER_MINUTES) and apply what they say; print what changed."""
        from .services import payment_sync

        _require_schema()
        report = payment_sync.sync_stale(limit)
        for line in report.changed:
            click.echo(f"changed\t{line}")
        for line in report.failed:
            click.echo(f"failed\t{line}")
        click.echo(f"{report.asked} asked, {len(report.changed)} changed, {len(report.failed)} failed, "
                   f"{report.postponed} postponed (gateway down).")

    @oms.command("expire-unpaid")
    def expire_unpaid():
        """Remind customers whose payment deadline is near, and cancel the orders not
        paid by their deadline (never one with money on it); print what was done."""
        from .services import unpaid

        _require_schema()
        report = unpaid.run()
        for number in report.reminded:
            click.echo(f"reminded\t{number}")
        for number in report.expired:
            click.echo(f"expired\t{number}")
        for line in report.kept:
            click.echo(f"kept\t{line}")
        click.echo(f"{len(report.reminded)} reminded, {len(report.expired)} expired, "
                   f"{len(report.kept)} kept (money on them).")

    @oms.command("sweep-alerts")
    def sweep_alerts():
        """Raise the time-based staff alerts (orders not shipped in time, stock running
        out) and queue the daily digests that are due."""
        from .services import alerts

        _require_schema()
        report = alerts.sweep()
        for title in report.raised:
            click.echo(f"raised\t{title}")
        click.echo(f"{len(report.raised)} alerts raised, {report.digests} digests queued.")

    registry.hook.register_commands(cli=oms)
    return oms


# ------------------------------------------------------------ forecast summaries


def _percent(value) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _number(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _echo_forecast(run) -> None:
    summary = run.summary
    click.echo(f"Forecast #{run.id}: {run.series_count} products, {run.horizon} {run.frequency}s ahead "
               f"from {run.first_period.isoformat()}, {int(run.level * 100)}% intervals.")
    click.echo(f"  {summary.get('modelled', 0)} with {run.forecaster_id} ({run.chosen_by}), "
               f"{summary.get('fallback', 0)} with too little history: their average.")
    click.echo(f"  Took {run.seconds:.1f} s.")


def _echo_backtest(run) -> None:
    summary = run.summary
    scores = summary.get("scores", {})
    click.echo(f"Back-test #{run.id}: the last {summary.get('holdout')} {run.frequency}s held out; "
               f"{run.series_count} products scored, {summary.get('skipped', 0)} with too little history.")
    if not scores:
        click.echo("  Nothing to score yet.")
        return
    click.echo(f"  {'forecaster':<24}{'MASE':>8}{'WAPE':>9}{'bias':>9}{'coverage':>10}")
    for forecaster_id, s in scores.items():
        mark = "  <- best" if forecaster_id == run.forecaster_id else ""
        click.echo(f"  {forecaster_id:<24}{_number(s['mase']):>8}{_percent(s['wape']):>9}"
                   f"{_percent(s['bias']):>9}{_percent(s['coverage']):>10}{mark}")
    for forecaster_id, reason in summary.get("failed", {}).items():
        click.echo(f"  {forecaster_id}: failed, left out: {reason}")
    click.echo(f"  Coverage is of the {int(run.level * 100)}% intervals. Took {run.seconds:.1f} s.")
