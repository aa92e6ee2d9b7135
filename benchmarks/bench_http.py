"""Checkout and public tracking page over HTTP, against a hello-world route of the
same app on the same server, measured with wrk.

Starts the demo shop under gunicorn (sync workers) on a fresh database and drives it
with wrk (C, one event loop per thread; Lua scripts in benchmarks/wrk/ keep a session
cookie and CSRF token per connection for checkout), so that the load generator is
not the bottleneck. The runs come in rounds (--rounds, 3 by default), each case
between two hello-world runs, and the verdicts take the median of the rounds. Each run
prints requests (or orders) per second, p50/p99 latency, its ratio to the hello-world
runs around it and the CPU seconds the server, the database and wrk used, and the
same ratio per CPU second of server + database (steadier on a shared machine).
Goals (issue 12): checkout (add to cart + place) p99 under 50 ms at 16 connections
on PostgreSQL with 2 workers, its checkouts per second and their ratio to
hello-world's requests per second printed next to it; the tracking page (rate
limited, on Redis when it answers) >= 0.45 of hello-world; --long: the tracking
page at saturation for 60 s with 0 errors.

The checkout is also measured against two yardsticks in the same run, each on its
own server (checkout_yardsticks.py): the same requests writing no order (the floor
around any order service) and writing the same rows with a hand-written SQLAlchemy
Core writer (what the stack allows for this write), so that a missed goal says
whether the order service or the machine stands in the way.

    python benchmarks/bench_http.py [--seconds 5] [--rounds 3] [--workers 2] [--connections 16]
                                    [--postgres-url URL] [--skip-sqlite] [--long]

Needs wrk (Debian/Ubuntu: apt-get install wrk).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from databases import temporary_postgres, temporary_sqlite  # noqa: E402

SCRIPTS = Path(__file__).parent / "wrk"
BENCH_SKU = "BENCH-CHECKOUT"
TRACKED_ORDERS = 50
CHECKOUT_P99_MS = 50
TRACKING_GOAL = 0.45
LONG_SECONDS = 60
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RESULT_LINE = re.compile(r"^OMS_RESULT (\{.*\})$", re.MULTILINE)


# Several workers must share the rate-limit counters, as in production: Redis when
# it answers on 127.0.0.1:6379 (or BENCH_RATELIMIT_STORAGE_URI), else per-worker memory.
def _rate_limit_storage() -> str:
    if os.environ.get("BENCH_RATELIMIT_STORAGE_URI"):
        return os.environ["BENCH_RATELIMIT_STORAGE_URI"]
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return "redis://127.0.0.1:6379"
    except OSError:
        return "memory://"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wrk_version() -> str:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: this benchmark drives the server with it "
                         "(Debian/Ubuntu: apt-get install wrk).")
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (done.stdout + done.stderr).split("Copyright")[0].strip()


def prepare_database(url: str, data_dir: str) -> list[str]:
    """Schema, one product with ample stock, and confirmed orders to track."""
    from oms_demo.app import create_app

    from oms_core import schema, tracking_codes
    from oms_core.db import db
    from oms_core.services import catalog
    from oms_core.services.orders import NewOrder, place_order

    app = create_app(url, data_dir=data_dir)
    with app.app_context():
        schema.upgrade()
        catalog.create_product(sku=BENCH_SKU, name="Benchmark mug", price_minor=1500, currency="EUR",
                               on_hand=10_000_000, actor="bench")
        codes = []
        for i in range(TRACKED_ORDERS):
            order = place_order(NewOrder(email=f"bench{i}@example.com", name="Bench Buyer",
                                         lines=[(BENCH_SKU, 1)], payment_method="bank_transfer",
                                         address={"line1": "1 Bench St", "postal_code": "1000",
                                                  "city": "Utrecht", "country": "NL"}),
                                actor="bench", confirm=True)
            codes.append(tracking_codes.display(order.tracking_code))
        db.session.remove()
        db.engine.dispose()
    return codes


# ------------------------------------------------------------------ CPU accounting


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class Processes:
    """Whose CPU is counted: gunicorn (master and workers) and the database's server
    processes serving this benchmark (PostgreSQL backends; SQLite runs inside the workers)."""
    server_pid: int
    database_pids: tuple[int, ...] = ()

    def snapshot(self) -> dict:
        server = [self.server_pid, *_children(self.server_pid)]
        return {"server": {pid: _cpu_seconds(pid) for pid in server},
                "database": {pid: _cpu_seconds(pid) for pid in self.database_pids},
                "wrk": _wrk_seconds(), "machine": _machine_busy()}


def _wrk_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child waited for
    return usage.ru_utime + usage.ru_stime


def _used(before: dict, after: dict, seconds: float) -> dict:
    def delta(group):
        return sum(after[group].get(pid, 0.0) - value for pid, value in before[group].items())
    busy = (after["machine"][0] - before["machine"][0]) / max(1, after["machine"][1] - before["machine"][1])
    return {"server": delta("server"), "database": delta("database"), "wrk": after["wrk"] - before["wrk"],
            "machine_busy": busy, "cores": os.cpu_count(), "seconds": seconds}


def orders_in_database(url: str) -> int:
    from sqlalchemy import create_engine, func, select

    from oms_core.models import Order

    engine = create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(Order)).scalar_one()
    engine.dispose()
    return count


def check_tracking_page(base: str, code: str) -> None:
    with urllib.request.urlopen(f"{base}/track?code={code}", timeout=10) as response:
        page = response.read().decode()
    if "Order" not in page:
        raise SystemExit(f"the tracking page does not find order {code}: "
                         "the benchmark would time an error page")


def _postgres_backends(url: str) -> tuple[int, ...]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(url)
    with engine.connect() as connection:
        pids = connection.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :name "
                                       "AND pid <> pg_backend_pid()"),
                                  {"name": make_url(url).database}).scalars().all()
    engine.dispose()
    return tuple(pids)


# ------------------------------------------------------------------ the runs


@dataclass
class Case:
    name: str
    script: str
    path: str
    threads: int
    connections: int
    args: tuple[str, ...] = ()
    unit: str = "req"  # "req": requests per second; "order": orders placed per second


def run_wrk(base: str, case: Case, seconds: float, processes: Processes) -> dict:
    command = ["wrk", "-t", str(case.threads), "-c", str(case.connections), "-d", f"{seconds:g}s",
               "--timeout", "10s", "-s", str(SCRIPTS / case.script), base + case.path]
    if case.args:
        command += ["--", *case.args]
    before = processes.snapshot()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = processes.snapshot()
    found = RESULT_LINE.search(done.stdout)
    if done.returncode != 0 or not found:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(found.group(1))
    result["cpu"] = _used(before, after, elapsed)
    done_count = result["operations"] if case.unit == "order" else result["requests"]
    result["per_second"] = done_count / result["seconds"]
    return result


def run_counted(url: str, base: str, case: Case, seconds: float, processes: Processes,
                writes: bool = True) -> dict:
    """run_wrk, checking that the orders wrk counted are the database's new ones (none
    when the checkout `writes` no order)."""
    orders_before = orders_in_database(url)
    result = run_wrk(base, case, seconds, processes)
    placed = orders_in_database(url) - orders_before
    if case.unit == "order":
        # Orders still in flight when wrk stops are placed but not counted: one a connection.
        counted = result["operations"] if writes else 0
        if not 0 <= placed - counted <= (case.connections if writes else 0):
            raise SystemExit(f"wrk counted {counted} orders, the database has {placed} new")
    return result


# What the checkout is measured against in the same run: the same requests with the
# order write swapped (checkout_yardsticks.py), each on its own server.
YARDSTICKS = (("none", "no order write"), ("core", "Core writer"))


def serve(url: str, data_dir: str, port: int, workers: int, storage: str,
          write: str = "") -> subprocess.Popen:
    """The demo shop under gunicorn; `write` ("none" or "core"): its checkout's order
    write swapped for a yardstick (checkout_yardsticks.py)."""
    env = dict(os.environ, OMS_DEMO_DATABASE_URL=url, OMS_DEMO_DATA_DIR=data_dir,
               OMS_DEMO_SECRET_KEY=uuid.uuid4().hex, OMS_TRACKING_RATE_LIMIT="1000000 per second",
               OMS_RATELIMIT_STORAGE_URI=storage, OMS_RATELIMIT_KEY_PREFIX=f"bench-{uuid.uuid4().hex[:8]}")
    app = "oms_demo.app:create_app()"
    if write:
        here = str(Path(__file__).parent)
        env.update(BENCH_CHECKOUT_WRITE=write,
                   PYTHONPATH=os.pathsep.join(filter(None, (here, env.get("PYTHONPATH")))))
        app = "checkout_yardsticks:create_app()"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", app], env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def per_cpu_second(result: dict) -> float:
    """Operations per CPU second of the server and the database: the figure that a
    machine shared with other work disturbs least."""
    cpu = result["cpu"]
    return result["per_second"] * result["seconds"] / max(cpu["server"] + cpu["database"], 1e-9)


def _line(name: str, case: Case, result: dict, hello: dict | None) -> str:
    cpu = result["cpu"]
    errors = result["socket_errors"] + result["status_errors"] + result["failures"]
    ratio = f"{result['per_second'] / hello['per_second']:5.2f}" if hello else "   - "
    cpu_ratio = f"{per_cpu_second(result) / hello['per_cpu_second']:5.2f}" if hello else "   - "
    p50, p99 = (result["op_p50_ms"], result["op_p99_ms"]) if case.unit == "order" else (
        result["p50_ms"], result["p99_ms"])
    return (f"  {name:14} {result['per_second']:7.1f} {case.unit}/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
            f"ratio {ratio}  | {per_cpu_second(result):6.0f} per CPU s, ratio {cpu_ratio}  "
            f"| errors {errors:<3} "
            f"| wrk -t{case.threads} -c{case.connections} | CPU s: server {cpu['server']:4.1f} "
            f"db {cpu['database']:4.1f} wrk {cpu['wrk']:4.1f}, machine {cpu['machine_busy']:4.0%} busy")


def _median(results: list[dict], key) -> float:
    return statistics.median(key(result) if callable(key) else result[key] for result in results)


def _with_ratio(result: dict, before: dict, after: dict) -> dict:
    """The result with its ratios to the mean of the hello-world runs around it."""
    hello = (before["per_second"] + after["per_second"]) / 2
    hello_cpu = (per_cpu_second(before) + per_cpu_second(after)) / 2
    return dict(result, ratio=result["per_second"] / hello, cpu_ratio=per_cpu_second(result) / hello_cpu,
                baseline={"per_second": hello, "per_cpu_second": hello_cpu})


def run(label: str, url: str, args) -> dict:
    storage = _rate_limit_storage()
    with tempfile.TemporaryDirectory() as data_dir:
        codes = prepare_database(url, data_dir)
        codes_file = Path(data_dir) / "codes.txt"
        codes_file.write_text("\n".join(codes) + "\n")
        connections = args.connections
        hello = Case("hello-world", "hello.lua", "/hello", args.threads, connections)
        tracking = Case("tracking page", "tracking.lua", "/track", args.threads, connections,
                        (str(codes_file),))
        checkout = Case("checkout", "checkout.lua", "/", connections, connections, (BENCH_SKU,), unit="order")
        # The shop, and the same shop with its checkout's order write swapped for each
        # yardstick; all three serve at once, loaded one at a time (an idle one costs nothing).
        servers, bases = {}, {}
        try:
            for write in ("", *(write for write, _name in YARDSTICKS)):
                port = free_port()
                servers[write] = serve(url, data_dir, port, args.workers, storage, write)
                bases[write] = f"http://127.0.0.1:{port}"
            base = bases[""]
            check_tracking_page(base, codes[0])
            warm_up = Processes(servers[""].pid)
            for case in (hello, tracking, checkout):  # every worker has served every page once
                run_wrk(base, case, 2, warm_up)
            for write, _name in YARDSTICKS:
                run_wrk(bases[write], checkout, 2, warm_up)
            database = _postgres_backends(url) if url.startswith("postgresql") else ()
            processes = {write: Processes(server.pid, database) for write, server in servers.items()}
            rows, rounds = [], []
            # Rounds of short runs, each case between hello-world runs, reported by their
            # median: one slow or fast stretch of a shared machine moves one round, not the verdict.
            for number in range(1, args.rounds + 1):
                rows.append(f"  round {number}:")
                done = {}
                before = run_wrk(base, hello, args.seconds, processes[""])
                rows.append(_line("hello-world", hello, before, None))
                for case in (tracking, checkout):
                    result = run_counted(url, base, case, args.seconds, processes[""])
                    after = run_wrk(base, hello, args.seconds, processes[""])
                    done[case.name] = _with_ratio(result, before, after)
                    rows.append(_line(case.name, case, result, done[case.name]["baseline"]))
                    rows.append(_line("hello-world", hello, after, None))
                    before = after
                for write, name in YARDSTICKS:
                    done[name] = run_counted(url, bases[write], checkout, args.seconds, processes[write],
                                             writes=write != "none")
                    rows.append(_line(name, checkout, done[name], None))
                rounds.append(done)
            results = {name: {"rounds": [done[name] for done in rounds]} for name in rounds[0]}
            if args.long:  # saturation: twice the connections for a minute, every answer must be a page
                long = Case("tracking, long", "tracking.lua", "/track", args.threads, 2 * connections,
                            (str(codes_file),))
                results[long.name] = run_wrk(base, long, LONG_SECONDS, processes[""])
                rows.append(_line(long.name, long, results[long.name], None))
        finally:
            for server in servers.values():
                server.send_signal(signal.SIGTERM)
            for server in servers.values():
                server.wait(timeout=30)
    for name in (tracking.name, checkout.name, *(name for _write, name in YARDSTICKS)):
        measured = results[name]["rounds"]
        results[name].update({key: _median(measured, key) for key in measured[0] if key in MEDIANS})
        results[name]["per_cpu_second"] = _median(measured, per_cpu_second)
    print(f"\n{label}: gunicorn {args.workers} sync workers on {os.cpu_count()} cores; load from {args.wrk} "
          f"(-t threads, -c connections; checkout: one connection per thread, each its own shopper "
          f"session); {args.rounds} rounds of {args.seconds:g} s runs; rate limits in {storage}")
    print("\n".join(rows))
    print(f"  medians of the {args.rounds} rounds:")
    shop, floor, core = (results[name] for name in (checkout.name, *(name for _w, name in YARDSTICKS)))
    p99s = ", ".join(f"{result['op_p99_ms']:.0f}" for result in shop["rounds"])
    print(f"  checkout: {shop['per_second']:.1f} checkouts/s, {shop['ratio']:.2f} of hello-world's "
          f"requests/s ({shop['cpu_ratio']:.2f} per CPU second); p99 {shop['op_p99_ms']:.1f} ms (rounds "
          f"{p99s}) at {connections} connections, {args.workers} workers (goal < {CHECKOUT_P99_MS} ms): "
          f"{'PASS' if shop['op_p99_ms'] < CHECKOUT_P99_MS else 'MISS'}")
    print(f"  yardsticks, the same two requests: with no order written {floor['per_second']:.1f}/s, "
          f"p99 {floor['op_p99_ms']:.1f} ms; with the rows written by SQLAlchemy Core by hand "
          f"{core['per_second']:.1f}/s, p99 {core['op_p99_ms']:.1f} ms. The checkout does "
          f"{shop['per_second'] / core['per_second']:.2f} of the Core writer's checkouts/s "
          f"({shop['per_cpu_second'] / core['per_cpu_second']:.2f} per CPU second)")
    if shop["op_p99_ms"] >= CHECKOUT_P99_MS and core["op_p99_ms"] >= CHECKOUT_P99_MS:
        print("  (the p99 goal is beyond this machine for this write: the Core writer misses it too)")
    track = results[tracking.name]
    ratios = ", ".join(f"{result['ratio']:.2f}" for result in track["rounds"])
    print(f"  tracking page: {track['ratio']:.2f} of hello-world's requests/s (rounds {ratios}), "
          f"{track['cpu_ratio']:.2f} per "
          f"CPU second (goal >= {TRACKING_GOAL}): {'PASS' if track['ratio'] >= TRACKING_GOAL else 'MISS'}")
    if "tracking, long" in results:
        long = results["tracking, long"]
        errors = long["socket_errors"] + long["status_errors"] + long["failures"]
        print(f"  tracking page at saturation for {long['seconds']:.0f} s: {long['requests']} requests, "
              f"{errors} errors (goal 0): {'PASS' if errors == 0 else 'MISS'}")
    print("  (ratios to the mean of the hello-world runs just before and after; p50/p99 of checkout are "
          "per order: add to cart + place; the yardsticks run on their own servers)")
    return results


# What a case's summary takes the median of, over the rounds.
MEDIANS = ("per_second", "ratio", "cpu_ratio", "p50_ms", "p99_ms", "op_p50_ms", "op_p99_ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5, help="length of each run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of runs (hello-world, tracking, hello-world, checkout, hello-world, "
                             "yardsticks); the summary gives their medians")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (hello-world, tracking)")
    parser.add_argument("--connections", type=int, default=16,
                        help="wrk connections (checkout: as many threads, one shopper each)")
    parser.add_argument("--postgres-url", default="")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--long", action="store_true",
                        help=f"also the tracking page for {LONG_SECONDS} s at saturation, counting errors")
    args = parser.parse_args()
    if not (1 <= args.workers <= 64 and 1 <= args.threads <= args.connections <= 256
            and 1 <= args.seconds <= 600 and 1 <= args.rounds <= 20):
        parser.error("need 1 <= workers <= 64, 1 <= threads <= connections <= 256, 1 <= seconds <= 600, "
                     "1 <= rounds <= 20")
    args.wrk = wrk_version()
    if not args.skip_sqlite:
        with temporary_sqlite() as url:
            run("SQLite", url, args)
    if args.postgres_url:
        with temporary_postgres(args.postgres_url) as url:
            run("PostgreSQL", url, args)


if __name__ == "__main__":
    main()
