"""The outbox at scale (issue 12): customer emails sent per second by 1, 2 and 4
`flask oms worker` processes on PostgreSQL (claims with FOR UPDATE SKIP LOCKED) to
a local SMTP server (aiosmtpd in this process, accepting everything).

Each run places --messages confirmed orders (one "confirmed" email each, rendered
by the worker when it sends), holds them back until the workers are up, then
times from that moment until the last is sent, and checks the SMTP server got
each Message-ID exactly once. Prints messages per second, the speed-up over one
worker, and the CPU seconds of the workers, the database and this process (the
SMTP server). Goal: more workers send faster (2 workers >= 1.3x one), each
message once.

    python benchmarks/bench_outbox.py --postgres-url URL [--messages 600] [--workers 1,2,4]
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, text, update

sys.path.insert(0, str(Path(__file__).parent))
from databases import temporary_postgres  # noqa: E402

HERE = Path(__file__).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_AFTER = 12  # seconds: the workers start and wait idle until the messages are due
GOAL_SPEEDUP = 1.3


def create_app():
    """The app the worker processes run (`flask --app bench_outbox:create_app oms worker`)."""
    from oms_core.testing import make_app

    return make_app(os.environ["BENCH_DATABASE_URL"], upgrade=False, OMS_SMTP_HOST="127.0.0.1",
                    OMS_SMTP_PORT=int(os.environ["BENCH_SMTP_PORT"]),
                    OMS_PUBLIC_BASE_URL="https://shop.example")


class Sink:
    """Counts Message-IDs it accepts."""

    def __init__(self):
        self.message_ids: Counter = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        for line in envelope.content.decode(errors="replace").splitlines():
            if line.lower().startswith("message-id:"):
                with self.lock:
                    self.message_ids[line.split(":", 1)[1].strip()] += 1
                break
        return "250 OK"


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def place_orders(url: str, count: int, start: int) -> None:
    from oms_core.db import db
    from oms_core.models import OutboxMessage
    from oms_core.models._base import utcnow
    from oms_core.services.orders import NewOrder, place_order
    from oms_core.testing import dispose, make_app

    app = make_app(url, upgrade=False)
    with app.app_context():
        for n in range(start, start + count):
            place_order(NewOrder(email=f"buyer{n}@example.com", name="Bench Buyer", lines=[("BENCH-MAIL", 1)],
                                 payment_method="bank_transfer",
                                 address={"line1": "1 Bench St", "postal_code": "1000", "city": "Utrecht",
                                          "country": "NL"}), actor="bench", confirm=True)
            db.session.remove()
        db.session.execute(update(OutboxMessage).where(OutboxMessage.status == "pending")
                           .values(next_attempt_at=utcnow() + timedelta(seconds=START_AFTER)))
        db.session.commit()
    dispose(app)


_engines: dict = {}


def pending(url: str) -> int:
    """Messages not sent yet (one pooled connection, polled)."""
    from sqlalchemy import create_engine

    from oms_core.models import OutboxMessage

    engine = _engines.get(url) or _engines.setdefault(url, create_engine(url, pool_size=1))
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(OutboxMessage)
                                  .where(OutboxMessage.status != "sent")).scalar_one()


def database_pids(url: str) -> list[int]:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.connect() as connection:
        pids = list(connection.execute(text("SELECT pid FROM pg_stat_activity "
                                            "WHERE datname = current_database() "
                                            "AND pid <> pg_backend_pid()")).scalars())
    engine.dispose()
    return pids


def run(url: str, workers: int, messages: int, start: int, sink: Sink, port: int) -> dict:
    place_orders(url, messages, start)
    due_at = time.monotonic() + START_AFTER - 1  # placing took a moment after the due time was set
    env = {**os.environ, "BENCH_DATABASE_URL": url, "BENCH_SMTP_PORT": str(port), "PYTHONPATH": str(HERE)}
    processes = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "bench_outbox:create_app", "oms",
                                   "worker",
                                   "--poll", "0.05"], cwd=HERE, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        while pending(url) == messages and time.monotonic() < due_at + START_AFTER:
            time.sleep(0.02)  # until the first is sent: the due time, once the workers are up
        started = time.monotonic()
        worker_cpu = sum(_cpu_of(p.pid) for p in processes)
        pids = database_pids(url)
        database_cpu, own_cpu = sum(_cpu_of(pid) for pid in pids), time.process_time()
        while pending(url) and time.monotonic() - started < 600:
            time.sleep(0.1)
        seconds = time.monotonic() - started
        result = {"seconds": seconds, "per_second": messages / seconds,
                  "workers_cpu": sum(_cpu_of(p.pid) for p in processes) - worker_cpu,
                  "database_cpu": sum(_cpu_of(pid) for pid in pids) - database_cpu,
                  "sink_cpu": time.process_time() - own_cpu, "left": pending(url)}
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    if not (10 <= args.messages <= 100_000 and all(1 <= n <= 32 for n in counts)):
        parser.error("need 10 <= messages <= 100000 and 1 <= workers <= 32")
    from aiosmtpd.controller import Controller

    from oms_core import schema
    from oms_core.services import catalog
    from oms_core.testing import dispose, make_app

    sink = Sink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    results = {}
    try:
        with temporary_postgres(args.postgres_url) as url:
            app = make_app(url, upgrade=False)
            with app.app_context():
                schema.upgrade()
                catalog.create_product(sku="BENCH-MAIL", name="Bench mug", price_minor=1500, currency="EUR",
                                       on_hand=10_000_000, actor="bench")
            dispose(app)
            for i, workers in enumerate(counts):
                results[workers] = run(url, workers, args.messages, i * args.messages, sink, port)
    finally:
        controller.stop()
        for engine in _engines.values():
            engine.dispose()
    total = args.messages * len(counts)
    once = len(sink.message_ids) == total and set(sink.message_ids.values()) == {1}
    print(f"\nPostgreSQL: {args.messages} confirmation emails per run to a local SMTP server, "
          f"flask oms worker processes, {os.cpu_count()} cores")
    one = results.get(1)
    for workers, result in results.items():
        speedup = f"{result['per_second'] / one['per_second']:.2f}x one worker" if one else ""
        print(f"  {workers} worker(s): {result['per_second']:6.1f} messages/s  ({result['seconds']:.1f} s)  "
              f"{speedup}"
              f"  | {1000 * result['workers_cpu'] / args.messages:.1f} ms worker CPU per message"
              f"  | CPU s: workers {result['workers_cpu']:.1f}, db {result['database_cpu']:.1f}, "
              f"smtp sink {result['sink_cpu']:.1f}  | left unsent {result['left']}")
    print(f"  each Message-ID accepted once ({len(sink.message_ids)} of {total}): "
          f"{'PASS' if once else 'MISS'}")
    if one and 2 in results:
        speedup = results[2]["per_second"] / one["per_second"]
        print(f"  2 workers / 1 = {speedup:.2f} (goal >= {GOAL_SPEEDUP}): "
              f"{'PASS' if speedup >= GOAL_SPEEDUP else 'MISS'}")


if __name__ == "__main__":
    main()
