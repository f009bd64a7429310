"""Benchmark the audit ledger: append rate, proofs, checkpoints and full verification.

Run from the repository root:

    .venv/bin/python bench/ledger_bench.py [--database-url URL] [--entries N]
                                           [--append-seconds S]

It migrates a fresh database (SQLite in a temporary directory by default; with
``--database-url``, an existing but **empty** database, or on PostgreSQL an empty
schema other than ``public``, which it leaves filled for the caller to drop) with
``strongroom.db.upgrade`` and measures, in this order:

* Append rate. One writer for S seconds, then W writer threads (default 8) for S
  seconds, each append in its own transaction exactly as the application does it::

      with database.session() as db:
          record_event(db, "account:signout", actor="user:1", target="session:1", at=now)
          db.commit()

  ``record_event`` increments the single ``ledger_head`` row (UPDATE ... RETURNING), so
  appends are serialized by that row lock on PostgreSQL and by the write lock
  (``BEGIN IMMEDIATE``) on SQLite. After each phase ``verify_ledger`` must find exactly
  as many entries as appends were committed, with no index missing.
* Bulk load up to N entries (default 1,000,000). Appending a million entries one
  transaction at a time would take hours, so the rows are inserted directly, in large
  ``executemany`` batches and a few transactions. They are exactly what
  ``record_event`` would have stored: a real event object (varied tags, actors,
  targets, details, request ids) encoded with ``strongroom.ledger.canonical
  .canonical_bytes``, a fresh 16-byte salt from ``secrets``, the leaf hash
  ``merkle.leaf_hash(salt || event)``, every complete subtree that
  ``merkle.CompactRange.append`` reports as completed (what ``record_event`` writes to
  ``ledger_nodes``), and ``ledger_head.size``. Each transaction leaves a consistent
  ledger, and the full ``verify_ledger`` run at the end recomputes and checks every
  one of those rows, so a load that differed from ``record_event`` would fail the
  benchmark. The load time is reported but is not a target.
* At N entries: R random inclusion proofs (index uniform in 0..N-1, tree size N) and
  R random consistency proofs (old size uniform in 1..N-1, new size N), R = 200 by
  default, after 5 unmeasured warm-up rounds of each. Each round opens a read session,
  reads the leaf hash, asks ``proofs.inclusion_proof`` / ``proofs.consistency_proof``,
  reads the root(s) with ``proofs.root_at`` and checks the proof with
  ``merkle.verify_inclusion`` / ``verify_consistency``; the whole round and each part
  are timed.
* Checkpoint signing: C times (default 20) one more entry is appended, then
  ``checkpoints.make_checkpoint`` signs and stores a checkpoint at the new size in its
  own transaction (the root from stored subtrees, the Ed25519 signature, the insert,
  the commit). The bare ``Signer.sign`` is timed on its own as well.
* Full verification: one ``verify_ledger`` run over everything (every entry, every
  subtree, the head, every checkpoint and its signature), in a write session as
  ``strongroom ledger verify`` opens it.

Only the standard library and Strongroom's own packages are used. The median is
``statistics.median``; the 95th percentile is ``statistics.quantiles(samples, n=20,
method="inclusive")[18]``, as in ``bench/auth_bench.py``. The Markdown summary goes to
standard output and progress to standard error. The exit status is 1 when an append
failed or the ledger does not verify. ``--profile-verify`` runs ``verify_ledger`` a
second time under cProfile and prints the top functions to standard error.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import random
import re
import secrets
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, inspect, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from strongroom.db import Base, Database, upgrade
from strongroom.ledger.canonical import canonical_bytes
from strongroom.ledger.checkpoints import make_checkpoint
from strongroom.ledger.merkle import (
    CompactRange,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from strongroom.ledger.models import SALT_BYTES, LedgerEntry, LedgerHead
from strongroom.ledger.note import Checkpoint, Signer
from strongroom.ledger.proofs import consistency_proof, inclusion_proof, root_at
from strongroom.ledger.services import event_time, record_event, subtree_hash
from strongroom.ledger.verify import LedgerTampered, Report, verify_ledger
from strongroom.ledger.vocabulary import TAGS
from strongroom.settings import ConfigError, Settings, load_settings

ORIGIN = "bench.invalid/ledger"
APPEND_TAG = "account:signout"
REDACT_TAG = "ledger:entry:redact"  # needs details naming a leaf hash: not bulk-loaded
LOAD_BATCH = 10_000  # rows per executemany
LOAD_TRANSACTION = 100_000  # entries per transaction
WARMUP_ROUNDS = 5
MAX_ERROR_EXAMPLES = 5
INCLUSION_TARGET = 0.005
CONSISTENCY_TARGET = 0.005
VERIFY_TARGET_SQLITE = 60.0

Timer = Callable[[], float]
clock: Timer = time.perf_counter


class BenchError(Exception):
    """The benchmark cannot go on (or its ledger does not verify); the message says why."""


# --- statistics and output -----------------------------------------------------------------


def median_p95(samples: Sequence[float]) -> tuple[float, float]:
    if len(samples) == 1:
        return samples[0], samples[0]
    return statistics.median(samples), statistics.quantiles(samples, n=20, method="inclusive")[18]


def ms(seconds: float) -> str:
    if seconds < 0.001:
        return f"{seconds * 1000:.3f} ms"
    return f"{seconds * 1000:.2f} ms"


def progress(message: str) -> None:
    sys.stderr.write(f"bench: {message}\n")
    sys.stderr.flush()


def cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return found.group(1).strip() if found else "unknown"


# --- the database ----------------------------------------------------------------------------


def open_database(database_url: str | None, tmp: Path) -> Database:
    """A migrated, empty ledger on ``database_url`` (default: SQLite in ``tmp``)."""
    # The caller's STRONGROOM_* variables (a production mode, another database) must not
    # leak into the run; only this process's environment is changed.
    for name in [name for name in os.environ if name.startswith("STRONGROOM_")]:
        del os.environ[name]
    url = database_url or f"sqlite:///{tmp / 'ledger.db'}"
    try:
        settings: Settings = load_settings(
            {"mode": "development", "database_url": url, "data_dir": str(tmp / "var")}
        )
    except ConfigError as err:
        raise BenchError("; ".join(err.problems)) from err
    database = Database(settings)
    try:
        check_empty(database)
        upgrade(database.engine)
    except (BenchError, SQLAlchemyError) as err:
        database.dispose()
        if isinstance(err, BenchError):
            raise
        raise BenchError(f"cannot migrate the database: {str(err).splitlines()[0]}") from err
    return database


def check_empty(database: Database) -> None:
    """Refuse a database with tables, and PostgreSQL's ``public`` schema altogether.

    The run leaves a million entries behind, so on PostgreSQL it only ever works in a
    schema made for it (``?options=-csearch_path%3Dbench_ledger``), never in the
    schema where an application's or a test run's tables would normally live.
    """
    if database.engine.dialect.name == "postgresql":
        with database.engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one_or_none()
        if schema in {None, "public"}:
            raise BenchError(
                f"refusing to run in the schema {schema!r}: create an empty schema and "
                "select it with ?options=-csearch_path%3D<schema> (docs/benchmarks.md)"
            )
    existing = inspect(database.engine).get_table_names()
    if existing:
        raise BenchError(
            f"the database is not empty (it has {', '.join(sorted(existing)[:5])}, ...): "
            "use a new schema, see docs/benchmarks.md"
        )


def database_kind(database: Database) -> str:
    engine = database.engine
    if engine.dialect.name == "sqlite":
        return (
            f"SQLite {sqlite3.sqlite_version} (file in a temporary directory; WAL, "
            "synchronous=FULL, as strongroom.db configures it)"
        )
    with engine.connect() as connection:
        version = connection.execute(text("SHOW server_version")).scalar_one()
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    host = engine.url.host or "local socket"
    return f"PostgreSQL {str(version).split()[0]} on {host}, schema `{schema}`"


def storage_size(database: Database) -> int:
    """Bytes the ledger tables take (SQLite: the whole file)."""
    with database.engine.connect() as connection:
        if database.engine.dialect.name == "sqlite":
            pages = connection.execute(text("PRAGMA page_count")).scalar_one()
            page_size = connection.execute(text("PRAGMA page_size")).scalar_one()
            return int(pages) * int(page_size)
        total = connection.execute(
            text(
                "SELECT pg_total_relation_size('ledger_entries')"
                " + pg_total_relation_size('ledger_nodes')"
            )
        ).scalar_one()
        return int(total)


def ledger_size(database: Database) -> int:
    with database.session(write=False) as db:
        return int(db.scalar(select(LedgerHead.size).where(LedgerHead.id == 1)) or 0)


# --- appends ---------------------------------------------------------------------------------


@dataclass
class AppendResult:
    writers: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    @property
    def appended(self) -> int:
        return len(self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def append_one(database: Database) -> None:
    with database.session() as db:
        record_event(db, APPEND_TAG, actor="user:1", target="session:1", at=datetime.now(UTC))
        db.commit()


def append_writer(
    database: Database, start: float, until: float, result: AppendResult, lock: threading.Lock
) -> None:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    examples: list[str] = []
    while clock() < start:
        time.sleep(0.001)
    while (began := clock()) < until:
        try:
            append_one(database)
        except SQLAlchemyError as err:
            errors[type(err).__name__] += 1
            if len(examples) < MAX_ERROR_EXAMPLES:
                examples.append(str(err).splitlines()[0])
            continue
        latencies.append(clock() - began)
    with lock:
        result.latencies += latencies
        result.errors += errors
        result.examples += examples[: MAX_ERROR_EXAMPLES - len(result.examples)]


def measure_appends(database: Database, writers: int, seconds: float) -> AppendResult:
    """``writers`` threads appending for ``seconds``; each its own sessions and commits."""
    result = AppendResult(writers, seconds)
    lock = threading.Lock()
    start = clock() + 0.2  # every thread is running before the clock starts
    threads = [
        threading.Thread(
            target=append_writer, args=(database, start, start + seconds, result, lock)
        )
        for _ in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def check_appended(database: Database, expected: int) -> Report:
    """``verify_ledger`` must find exactly ``expected`` contiguous entries."""
    with database.session() as db:
        try:
            report = verify_ledger(db, None)
        except LedgerTampered as err:
            raise BenchError(f"the ledger does not verify after the appends: {err}") from err
    if report.entries != expected:
        raise BenchError(f"{expected} appends were committed but the log holds {report.entries}")
    return report


# --- bulk load -------------------------------------------------------------------------------


def bulk_tags() -> list[str]:
    return sorted(tag for tag in TAGS if tag != REDACT_TAG)


def entry_row(index: int, at: datetime, tag: str) -> dict[str, Any]:
    """The ``ledger_entries`` row ``record_event`` would store for this event."""
    actor = f"user:{index % 5000 + 1}"
    target = f"session:{index // 3 + 1}" if tag.startswith("account:") else f"user:{index % 7919}"
    details = {"ip": f"203.0.113.{index % 254 + 1}", "user_agent": "bench/1.0"}
    request_id = f"{index:032x}"
    event = {
        "v": 1,
        "index": index,
        "time": event_time(at),
        "tag": tag,
        "actor": actor,
        "target": target,
        "details": details,
        "request_id": request_id,
    }
    salt = secrets.token_bytes(SALT_BYTES)
    body = canonical_bytes(event)
    return {
        "idx": index,
        "occurred_at": at,
        "tag": tag,
        "actor": actor,
        "target": target,
        "details": details,
        "request_id": request_id,
        "salt": salt,
        "event": body,
        "leaf_hash": leaf_hash(salt + body),
        "redacted_at": None,
    }


def resume_tree(connection: Connection, size: int) -> CompactRange:
    """The compact range of the entries already stored (the appended ones)."""
    tree = CompactRange()
    rows = connection.execute(
        select(LedgerEntry.leaf_hash).where(LedgerEntry.index < size).order_by(LedgerEntry.index)
    )
    tree.extend(digest for (digest,) in rows)
    return tree


def load_transaction(
    connection: Connection, tree: CompactRange, end: int, tags: Sequence[str], base: datetime
) -> None:
    """Entries ``tree.size .. end - 1``, their completed subtrees and the new head size."""
    entries = Base.metadata.tables["ledger_entries"]
    nodes = Base.metadata.tables["ledger_nodes"]
    while tree.size < end:
        rows: list[dict[str, Any]] = []
        node_rows: list[dict[str, Any]] = []
        for index in range(tree.size, min(end, tree.size + LOAD_BATCH)):
            row = entry_row(index, base + timedelta(microseconds=index), tags[index % len(tags)])
            rows.append(row)
            node_rows += [
                {"level": level, "idx": position, "hash": digest}
                for (level, position), digest in tree.append(row["leaf_hash"])
            ]
        connection.execute(entries.insert(), rows)
        if node_rows:
            connection.execute(nodes.insert(), node_rows)
    connection.execute(update(LedgerHead).where(LedgerHead.id == 1).values(size=tree.size))


def bulk_load(database: Database, entries: int) -> tuple[int, float]:
    """Grow the log to ``entries``; returns (entries loaded, seconds)."""
    started = clock()
    with database.engine.connect() as connection:
        size = int(
            connection.execute(select(LedgerHead.size).where(LedgerHead.id == 1)).scalar_one()
        )
        tree = resume_tree(connection, size)
        connection.rollback()
        with database.session(write=False) as db:
            if tree.root() != root_at(db, size):
                raise BenchError("the stored subtrees disagree with the appended leaves")
        tags = bulk_tags()
        base = datetime.now(UTC)
        while tree.size < entries:
            end = min(entries, tree.size + LOAD_TRANSACTION)
            with connection.begin():
                load_transaction(connection, tree, end, tags, base)
            progress(f"loaded {tree.size:,} of {entries:,} entries ({clock() - started:.0f} s)")
        if database.engine.dialect.name == "postgresql":
            # What autovacuum does after a load this size; a log that grew by appends
            # has up-to-date statistics anyway.
            with connection.begin():
                connection.execute(text("ANALYZE ledger_entries, ledger_nodes, ledger_head"))
    return max(0, entries - size), clock() - started


# --- proofs ----------------------------------------------------------------------------------


@dataclass
class Timings:
    """Named samples, in seconds, one list per measured step."""

    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)


def inclusion_round(database: Database, index: int, size: int, timings: Timings) -> None:
    began = clock()
    with database.session(write=False) as db:
        leaf = subtree_hash(db, 0, index)
        t_proof = clock()
        proof = inclusion_proof(db, index, size)
        t_root = clock()
        root = root_at(db, size)
        t_verify = clock()
        verify_inclusion(leaf, index, size, proof, root)
        done = clock()
    ended = clock()
    timings.add("proof", t_root - t_proof)
    timings.add("root", t_verify - t_root)
    timings.add("verify", done - t_verify)
    timings.add("total", ended - began)
    timings.add("hashes", float(len(proof)))


def consistency_round(database: Database, old: int, size: int, timings: Timings) -> None:
    began = clock()
    with database.session(write=False) as db:
        t_proof = clock()
        proof = consistency_proof(db, old, size)
        t_root = clock()
        old_root, new_root = root_at(db, old), root_at(db, size)
        t_verify = clock()
        verify_consistency(old, size, old_root, new_root, proof)
        done = clock()
    ended = clock()
    timings.add("proof", t_root - t_proof)
    timings.add("root", t_verify - t_root)
    timings.add("verify", done - t_verify)
    timings.add("total", ended - began)
    timings.add("hashes", float(len(proof)))


def measure_proofs(
    database: Database, size: int, rounds: int, rng: random.Random
) -> tuple[Timings, Timings]:
    inclusion, consistency, warmup = Timings(), Timings(), Timings()
    for _ in range(WARMUP_ROUNDS):
        inclusion_round(database, rng.randrange(size), size, warmup)
        consistency_round(database, rng.randrange(1, size), size, warmup)
    for _ in range(rounds):
        inclusion_round(database, rng.randrange(size), size, inclusion)
    for _ in range(rounds):
        consistency_round(database, rng.randrange(1, size), size, consistency)
    return inclusion, consistency


# --- checkpoints and verification --------------------------------------------------------------


def measure_checkpoints(database: Database, signer: Signer, count: int) -> Timings:
    timings = Timings()
    for _ in range(count):
        append_one(database)
        began = clock()
        with database.session() as db:
            stored = make_checkpoint(db, signer, at=datetime.now(UTC))
            db.commit()
        timings.add("make_checkpoint", clock() - began)
        text_ = Checkpoint(signer.name, stored.size, stored.root).text()
        began = clock()
        signer.sign(text_)
        timings.add("sign", clock() - began)
        timings.add("size", float(stored.size))
    return timings


def full_verify(database: Database, signer: Signer) -> tuple[Report, float, float]:
    """One ``verify_ledger`` run: its report, wall seconds and this process's CPU seconds."""
    began, cpu = clock(), time.process_time()
    with database.session(write=False) as db:  # as `strongroom ledger verify` opens it
        try:
            report = verify_ledger(db, signer.verifier)
        except LedgerTampered as err:
            raise BenchError(f"the ledger does not verify: {err}") from err
    return report, clock() - began, time.process_time() - cpu


def profile_verify(database: Database, signer: Signer) -> None:
    profiler = cProfile.Profile()
    with database.session() as db:
        profiler.runcall(verify_ledger, db, signer.verifier)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(25)
    progress(f"verify_ledger under cProfile:\n{out.getvalue()}")


# --- the report ------------------------------------------------------------------------------


@dataclass
class Results:
    setup: dict[str, str]
    single: AppendResult
    multi: AppendResult
    loaded: int
    load_seconds: float
    size: int
    bytes_stored: int
    inclusion: Timings
    consistency: Timings
    checkpoints: Timings
    verify_report: Report
    verify_seconds: float
    verify_cpu: float
    is_sqlite: bool


def append_line(name: str, result: AppendResult) -> str:
    if not result.latencies:
        none = f"none committed in {result.seconds:g} s"
        return f"| {name} | {none} | | | {result.error_count} errors |"
    median, p95 = median_p95(result.latencies)
    rate = result.appended / result.seconds
    return (
        f"| {name} | {result.appended:,} in {result.seconds:g} s | {ms(median)} | {ms(p95)} "
        f"| **{rate:,.0f} appends/s**, {result.error_count} errors |"
    )


def timing_line(name: str, samples: Sequence[float], other: str = "") -> str:
    median, p95 = median_p95(samples)
    return f"| {name} | {len(samples)} | {ms(median)} | {ms(p95)} | {other} |"


def met(value: float, target: float) -> str:
    return "**met**" if value < target else "**NOT met**"


def proof_lines(kind: str, timings: Timings, target: float, roots: str) -> list[str]:
    s = timings.samples
    _, p95 = median_p95(s["total"])
    hashes = statistics.mean(s["hashes"])
    return [
        timing_line(
            f"{kind} proof, end to end",
            s["total"],
            f"target < {ms(target)}: {met(p95, target)} (p95); {hashes:.1f} hashes on average",
        ),
        timing_line(f"- {kind.lower()}_proof() alone", s["proof"]),
        timing_line(f"- {roots}", s["root"]),
        timing_line(f"- verify_{kind.lower()}()", s["verify"]),
    ]


def report(results: Results) -> str:
    r = results
    stored = "database file" if r.is_sqlite else "ledger tables"
    lines = ["## Strongroom ledger benchmark", "", "| Setting | Value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in r.setup.items()]
    lines += [
        "",
        "| Measurement | Samples | Median | p95 | Other |",
        "| --- | --- | --- | --- | --- |",
        append_line("Append, 1 writer", r.single),
        append_line(f"Append, {r.multi.writers} writer threads", r.multi),
        f"| Bulk load to {r.size:,} entries (not a target) | {r.loaded:,} entries "
        f"| | | {r.load_seconds:.1f} s, {r.loaded / max(r.load_seconds, 1e-9):,.0f} entries/s; "
        f"{stored} {r.bytes_stored / 2**20:,.0f} MiB |",
        *proof_lines("Inclusion", r.inclusion, INCLUSION_TARGET, "root_at(N)"),
        *proof_lines("Consistency", r.consistency, CONSISTENCY_TARGET, "root_at(old) + root_at(N)"),
    ]
    c = r.checkpoints.samples
    sizes = c["size"]
    lines += [
        timing_line(
            "Checkpoint, make_checkpoint() + commit",
            c["make_checkpoint"],
            f"sizes {sizes[0]:,.0f}..{sizes[-1]:,.0f}",
        ),
        timing_line("- Signer.sign() alone (Ed25519)", c["sign"]),
    ]
    verify_target = (
        f"target < {VERIFY_TARGET_SQLITE:g} s: {met(r.verify_seconds, VERIFY_TARGET_SQLITE)}"
        if r.is_sqlite
        else f"(the {VERIFY_TARGET_SQLITE:g} s target is for SQLite)"
    )
    v = r.verify_report
    lines += [
        f"| Full verify_ledger() | 1 | {r.verify_seconds:.1f} s | | {v.entries:,} entries, "
        f"{v.nodes:,} subtrees, {v.checkpoints} checkpoints; {r.verify_cpu:.1f} CPU-s in "
        f"Python; {verify_target} |",
        "",
        'p95 = `statistics.quantiles(samples, n=20, method="inclusive")[18]`. Proof rounds '
        f"follow {WARMUP_ROUNDS} unmeasured warm-up rounds; each round opens its own read "
        "session. The writer threads and the database share the machine's "
        f"{os.cpu_count()} CPUs.",
    ]
    for name, result in (("1 writer", r.single), (f"{r.multi.writers} writers", r.multi)):
        if result.error_count:
            lines += ["", f"Append errors ({name}):"]
            lines += [f"- {kind}: {n}" for kind, n in result.errors.items()]
            lines += [f"- e.g. {example}" for example in result.examples]
    return "\n".join(lines) + "\n"


# --- the run ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument(
        "--database-url",
        default=None,
        help="an EMPTY database; PostgreSQL: an empty schema, not public (default: SQLite "
        "in a temporary directory)",
    )
    parser.add_argument(
        "--entries", type=int, default=1_000_000, help="log size for proofs (default: 1000000)"
    )
    parser.add_argument(
        "--append-seconds", type=float, default=5.0, help="each append phase (default: 5)"
    )
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers (default: 8)")
    parser.add_argument("--proofs", type=int, default=200, help="proofs of each kind (200)")
    parser.add_argument("--checkpoints", type=int, default=20, help="checkpoints signed (20)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the random proof sample")
    parser.add_argument(
        "--profile-verify",
        action="store_true",
        help="run verify_ledger again under cProfile; top functions to standard error",
    )
    args = parser.parse_args(argv)
    if args.entries < 2 or args.append_seconds <= 0 or args.writers < 1:
        parser.error("need --entries >= 2, --append-seconds > 0, --writers >= 1")
    if args.proofs < 2 or args.checkpoints < 2:
        parser.error("need --proofs >= 2 and --checkpoints >= 2")
    return args


def measure(args: argparse.Namespace, database: Database) -> Results:
    setup = {
        "Machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {cpu_model()}",
        "Python": platform.python_version(),
        "Database": database_kind(database),
    }
    progress(f"1 writer for {args.append_seconds:g} s")
    single = measure_appends(database, 1, args.append_seconds)
    check_appended(database, single.appended)
    progress(f"{args.writers} writers for {args.append_seconds:g} s")
    multi = measure_appends(database, args.writers, args.append_seconds)
    check_appended(database, single.appended + multi.appended)
    progress(f"bulk load to {args.entries:,} entries")
    loaded, load_seconds = bulk_load(database, args.entries)
    size = ledger_size(database)
    progress(f"{args.proofs} inclusion and {args.proofs} consistency proofs at size {size:,}")
    rng = random.Random(args.seed)  # noqa: S311  # a reproducible sample, not a secret
    inclusion, consistency = measure_proofs(database, size, args.proofs, rng)
    progress(f"{args.checkpoints} checkpoints")
    signer = Signer.generate(ORIGIN)
    checkpoints = measure_checkpoints(database, signer, args.checkpoints)
    progress("full verify_ledger")
    verify_report, verify_seconds, verify_cpu = full_verify(database, signer)
    progress(f"verified {verify_report.entries:,} entries in {verify_seconds:.1f} s")
    if args.profile_verify:
        profile_verify(database, signer)
    return Results(
        setup=setup,
        single=single,
        multi=multi,
        loaded=loaded,
        load_seconds=load_seconds,
        size=size,
        bytes_stored=storage_size(database),
        inclusion=inclusion,
        consistency=consistency,
        checkpoints=checkpoints,
        verify_report=verify_report,
        verify_seconds=verify_seconds,
        verify_cpu=verify_cpu,
        is_sqlite=database.engine.dialect.name == "sqlite",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="strongroom-ledger-bench-") as tmp:
        try:
            database = open_database(args.database_url, Path(tmp))
            try:
                results = measure(args, database)
            finally:
                database.dispose()
        except BenchError as err:
            sys.stderr.write(f"bench: FAILED: {err}\n")
            return 1
    sys.stdout.write(report(results))
    return 1 if results.single.error_count or results.multi.error_count else 0


if __name__ == "__main__":
    sys.exit(main())
