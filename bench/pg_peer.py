"""The PostgreSQL peer of the benchmark: what a shop would otherwise use for segmentation.

The same seeded demo data as segsearch gets (segsearch.demo.generator) is loaded into a
plain, normalised schema, and every rule of bench/rules.py is written BY HAND as one SQL
query that must select exactly the customers the rule selects (CONTRACT section 5, with
the readings R1-R15 of tests/oracle/evaluator.py). tests/integration/test_pg_peer.py
checks every count against that evaluator; `make bench` (bench/run.py) compares them with
segsearch's previews and times both.

    start(data_dir, port)     initdb (once) + pg_ctl start; as root the server runs as the
                              `postgres` system user; 127.0.0.1 only, no unix socket
    connect(port)             an autocommit psycopg connection
    load(conn, config)        schema, streamed COPY, indexes, VACUUM ANALYZE; timings + row counts
    SQL / count_sql(name)     the hand-written queries (parameters: %(today)s date, %(tz)s zone)
    run_suite(conn, today, tz, calls)   count, p50_ms, p95_ms per rule (warm calls)
    stop(data_dir)            pg_ctl stop -m fast

Schema (normalised: nothing derived is stored; orders_count, total_spent, last_order_at,
bought products/groups... are computed from `orders`/`order_items` by each query).
Customers, orders and products have integer surrogate keys, the feed's ids being kept as
`external_id`; product groups are keyed by their id, the code rules name them by:

    product_groups(id, name, parent_id)
    product_group_closure(ancestor, descendant)      every (ancestor, descendant) pair, self included
    products(id, external_id, name, price)
    product_group_members(product_id, group_id)      a product's own groups, as given
    custom_fields(code, label, type)
    customers(id, external_id, type, first_name, ..., birthday date, created_at timestamptz,
              ..., custom_<code>: one typed column per registered custom field)
    customer_tags(customer_id, tag)
    orders(id, external_id, customer_id, created_at timestamptz, status, pipeline, store,
           total numeric)
    order_items(order_id, product_id, quantity, price)
    view customer_order_stats: the derived aggregates, for people poking at the data
    functions month_day(date), local_day(timestamptz, zone), local_day_within(...)

A benchmark peer, so the server runs with fsync, synchronous_commit and full_page_writes
off (a crash loses the data; it is reloaded every run) and autovacuum off (load() runs
VACUUM ANALYZE itself, so no background vacuum disturbs the timings).
"""
from __future__ import annotations

import datetime as dt
import glob
import os
import re
import shutil
import stat
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

__all__ = ["start", "stop", "connect", "load", "load_data", "SQL", "count_sql", "count", "run_suite", "SETTINGS"]

SYSTEM_USER = "postgres"  # PostgreSQL refuses to run as root
DBNAME = "postgres"
_CONF = "segsearch-peer.conf"  # our settings, included from postgresql.conf

# For a 2-core / 24 GiB machine. The durability switches are off on purpose: it is a
# benchmark peer whose data is regenerated every run.
SETTINGS: dict[str, str] = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",  # TCP only: no clash with a system cluster's socket
    "max_connections": "20",
    "shared_buffers": "2GB",
    "effective_cache_size": "16GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "max_worker_processes": "8",
    "max_parallel_workers": "2",
    "max_parallel_workers_per_gather": "2",
    "max_parallel_maintenance_workers": "2",
    "random_page_cost": "1.1",  # SSD
    "effective_io_concurrency": "200",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "autovacuum": "off",
    "jit": "off",  # compiling costs more than it saves on sub-second queries
    "timezone": "'UTC'",
    "log_min_messages": "warning",
    "log_checkpoints": "off",
}


# ------------------------------------------------------------------------- the server


def _bin_dir() -> Path:
    """Directory of Debian's PostgreSQL server binaries (scripts/setup.sh installs them)."""
    found = _find_bin_dir()
    if found is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: run "
                           "`make setup` (scripts/setup.sh installs the Debian package "
                           "`postgresql`)")
    return found


def _find_bin_dir() -> Path | None:
    def version(bin_dir: str) -> tuple[int, ...]:  # /usr/lib/postgresql/15/bin -> (15,)
        return tuple(int(d) for d in re.findall(r"\d+", Path(bin_dir).parent.name))

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version)
    for directory in reversed(candidates):
        if (Path(directory) / "initdb").exists() and (Path(directory) / "pg_ctl").exists():
            return Path(directory)
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    return None


def _run(args: list[str], *, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a server tool, as the postgres system user when we are root."""
    kwargs: dict[str, Any] = {}
    if os.geteuid() == 0:
        kwargs = {"user": SYSTEM_USER, "group": SYSTEM_USER, "extra_groups": []}
    proc = subprocess.run(args, cwd="/", stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _system_user_ids() -> tuple[int, int] | None:
    """(uid, gid) the server runs as when we are root; None when we run it as ourselves."""
    if os.geteuid() != 0:
        return None
    import pwd
    entry = pwd.getpwnam(SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _give(path: Path) -> None:
    ids = _system_user_ids()
    if ids is not None:
        os.chown(path, *ids, follow_symlinks=False)


def _prepare_dir(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    ids = _system_user_ids()
    if ids is not None:
        for parent in data_dir.resolve().parents:  # the server must reach its directory
            mode = parent.stat()
            if not (mode.st_mode & stat.S_IXOTH or mode.st_uid == ids[0]):
                raise RuntimeError(f"{parent} is not traversable by the {SYSTEM_USER} user "
                                   f"(mode {stat.filemode(mode.st_mode)}): put the data dir elsewhere")
        if data_dir.stat().st_uid != ids[0]:
            for path in [data_dir, *data_dir.rglob("*")]:
                _give(path)
    data_dir.chmod(0o700)


def start(data_dir: Path, port: int) -> None:
    """Start a PostgreSQL server on 127.0.0.1:port over data_dir (initdb on first use).

    A server already running over data_dir is stopped first, so the port is the one given.
    """
    data_dir = Path(data_dir)
    bin_dir = _bin_dir()
    _prepare_dir(data_dir)
    if not (data_dir / "PG_VERSION").exists():
        _run([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", SYSTEM_USER, "--auth=trust",
              "-E", "UTF8", "--locale=C", "--no-sync"])
        with (data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# segsearch benchmark peer (bench/pg_peer.py)\ninclude '{_CONF}'\n")
    # rewritten on every start, so a data dir kept from an earlier run gets today's SETTINGS
    conf_path = data_dir / _CONF
    conf_path.write_text("".join(f"{key} = {value}\n" for key, value in SETTINGS.items()))
    _give(conf_path)
    if _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "status"], check=False).returncode == 0:
        stop(data_dir)
    _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(data_dir / "server.log"),
          "-o", f"-p {int(port)}", "-w", "-t", "120", "start"])


def stop(data_dir: Path) -> None:
    """Stop the server over data_dir (fast shutdown); nothing to do if none runs."""
    data_dir = Path(data_dir)
    if not (data_dir / "postmaster.pid").exists():
        return
    _run([str(_bin_dir() / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "-t", "120",
          "stop"], check=False)


def connect(port: int, *, dbname: str = DBNAME):
    """An autocommit connection to the peer on 127.0.0.1:port."""
    import psycopg
    deadline = time.monotonic() + 30
    while True:
        try:
            return psycopg.connect(host="127.0.0.1", port=int(port), user=SYSTEM_USER,
                                   dbname=dbname, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


# ---------------------------------------------------------------------------- schema

_CUSTOM_TYPES = {"string": "text", "integer": "bigint", "decimal": "numeric", "date": "date",
                 "boolean": "boolean"}

_CUSTOMER_COLUMNS = ("type", "first_name", "last_name", "email", "phone", "sex",
                     "birthday", "city", "country", "store", "source", "manager", "vip",
                     "created_at", "email_subscribed", "sms_subscribed", "last_email_opened_at")

_DROP = """
DROP VIEW IF EXISTS customer_order_stats;
DROP TABLE IF EXISTS order_items, orders, customer_tags, customers, custom_fields,
    product_group_members, products, product_group_closure, product_groups CASCADE;
"""

# Customers, orders and products get integer surrogate keys (as a shop's own database
# would); the feed's string ids are kept as `external_id`. Product groups are few and are
# named by their id (`tea`, `chinese-tea`) in rules, so that id stays their key.
_CREATE = """
CREATE TABLE product_groups (id text NOT NULL, name text NOT NULL, parent_id text);
CREATE TABLE product_group_closure (ancestor text NOT NULL, descendant text NOT NULL);
CREATE TABLE products (id integer NOT NULL, external_id text NOT NULL, name text NOT NULL,
    price numeric(14, 2));
CREATE TABLE product_group_members (product_id integer NOT NULL, group_id text NOT NULL);
CREATE TABLE custom_fields (code text NOT NULL, label text NOT NULL, type text NOT NULL);
CREATE TABLE customers (
    id bigint NOT NULL, external_id text NOT NULL, type text, first_name text, last_name text,
    email text, phone text, sex text, birthday date, city text, country text, store text,
    source text, manager text, vip boolean, created_at timestamptz, email_subscribed boolean,
    sms_subscribed boolean, last_email_opened_at timestamptz{custom_columns});
CREATE TABLE customer_tags (customer_id bigint NOT NULL, tag text NOT NULL);
CREATE TABLE orders (
    id bigint NOT NULL, external_id text NOT NULL, customer_id bigint NOT NULL,
    created_at timestamptz NOT NULL, status text, pipeline text, store text, total numeric(14, 2));
CREATE TABLE order_items (order_id bigint NOT NULL, product_id integer NOT NULL,
    quantity integer, price numeric(14, 2));

-- (month, day) of a date as one comparable integer: 29 Feb = 229 lies between 228 and 301.
-- Indexed (customers_month_day_idx). PL/pgSQL, so never inlined: its COST then tells the
-- planner that computing it row by row is dear; inlined, the arithmetic looked free and
-- the planner scanned all customers (10x slower) instead of using the index.
CREATE OR REPLACE FUNCTION month_day(d date) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 100
    AS $$ BEGIN RETURN (EXTRACT(MONTH FROM d) * 100 + EXTRACT(DAY FROM d))::integer; END $$;
-- The calendar day of an instant in a zone, and "that day is within [low, high]" (both
-- inlined by the planner). COALESCE(..., false) changes nothing in a WHERE clause but
-- hides the range from the planner, which has no statistics for the expression and
-- would otherwise take any range on it for a 0.5% sliver (it is estimated at 50%).
CREATE OR REPLACE FUNCTION local_day(t timestamptz, tz text) RETURNS date
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT (t AT TIME ZONE tz)::date $$;
CREATE OR REPLACE FUNCTION local_day_within(t timestamptz, tz text, low date, high date)
    RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT COALESCE((t AT TIME ZONE tz)::date BETWEEN low AND high, false) $$;
"""

# Keys, foreign keys and indexes: built after the COPY (much faster than maintaining them).
_INDEXES = """
ALTER TABLE product_groups ADD PRIMARY KEY (id);
ALTER TABLE product_groups ADD FOREIGN KEY (parent_id) REFERENCES product_groups (id);
ALTER TABLE product_group_closure ADD PRIMARY KEY (ancestor, descendant);
CREATE INDEX ON product_group_closure (descendant, ancestor);
ALTER TABLE products ADD PRIMARY KEY (id);
ALTER TABLE products ADD UNIQUE (external_id);
ALTER TABLE product_group_members ADD PRIMARY KEY (product_id, group_id);
CREATE INDEX ON product_group_members (group_id, product_id);
ALTER TABLE custom_fields ADD PRIMARY KEY (code);
ALTER TABLE customers ADD PRIMARY KEY (id);
ALTER TABLE customers ADD UNIQUE (external_id);
CREATE INDEX ON customers (city);
CREATE INDEX ON customers (source);
CREATE INDEX ON customers (store);
CREATE INDEX ON customers (birthday);
CREATE INDEX customers_month_day_idx ON customers (month_day(birthday));
CREATE INDEX ON customers (created_at);
CREATE INDEX ON customers (email);
CREATE INDEX ON customer_tags (customer_id);
CREATE INDEX ON customer_tags (tag);
ALTER TABLE orders ADD PRIMARY KEY (id);
ALTER TABLE orders ADD UNIQUE (external_id);
-- covers the per-customer aggregates (count, sum, last order, statuses) without the heap
CREATE INDEX ON orders (customer_id, created_at) INCLUDE (status, total);
CREATE INDEX ON orders (status);
CREATE INDEX ON orders (created_at);
CREATE INDEX ON order_items (order_id, product_id);
CREATE INDEX ON order_items (product_id, order_id);
ALTER TABLE customer_tags ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE order_items ADD FOREIGN KEY (order_id) REFERENCES orders (id);
ALTER TABLE order_items ADD FOREIGN KEY (product_id) REFERENCES products (id);
ALTER TABLE product_group_members ADD FOREIGN KEY (product_id) REFERENCES products (id);
ALTER TABLE product_group_members ADD FOREIGN KEY (group_id) REFERENCES product_groups (id);

-- The derived fields of CONTRACT section 3, computed (never stored): a plain view.
CREATE VIEW customer_order_stats AS
SELECT c.id AS customer_id,
       c.external_id,
       count(o.id) AS orders_count,
       coalesce(sum(o.total), 0) AS total_spent,
       sum(o.total)::float8 / nullif(count(o.id), 0) AS average_order_value,
       min(o.created_at) AS first_order_at,
       max(o.created_at) AS last_order_at
FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
GROUP BY c.id;
"""


def _closure(groups: list[dict]) -> list[tuple[str, str]]:
    """(ancestor, descendant) for every group and each of its ancestors, self included."""
    parent = {g["id"]: g.get("parent_id") for g in groups}
    pairs = []
    for gid in parent:
        seen: set[str] = set()
        current: str | None = gid
        while current is not None and current not in seen:
            seen.add(current)
            pairs.append((current, gid))
            current = parent.get(current)
    return pairs


def _money(value: Any) -> str | None:
    return None if value is None else str(value)  # str(float) is exact to its two decimals


def _chunks(iterator: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for item in iterator:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Timed:
    """Wraps an iterator and adds up the time spent inside next() (the generator's cost)."""

    def __init__(self, iterable: Iterable):
        self.iterator = iter(iterable)
        self.seconds = 0.0

    def __iter__(self):
        return self

    def __next__(self):
        started = time.perf_counter()
        try:
            return next(self.iterator)
        finally:
            self.seconds += time.perf_counter() - started


def load(conn, config, progress: Callable[[int, int], None] | None = None,
         chunk_size: int = 10_000, **variant: str) -> dict:
    """(Re)create the schema and load the demo data of ``config`` with streamed COPY.

    Memory stays bounded (``chunk_size`` customers with their orders at a time). Then
    keys, indexes, foreign keys, VACUUM ANALYZE. ``progress(done, total)`` is called after
    every chunk. Returns row counts and timings. ``variant``: the schema variant's
    ``derive`` / ``indexes`` / ``extra_indexes`` of load_data (bench/pg_fast.py).
    """
    from segsearch.demo.generator import catalogue_data, iter_customers

    return load_data(conn, catalogue_data(config), iter_customers(config),
                     total=config.customers, progress=progress, chunk_size=chunk_size, **variant)


def load_data(conn, catalogue: dict, customers: Iterable[tuple[dict, list[dict]]], *,
              total: int | None = None, progress: Callable[[int, int], None] | None = None,
              chunk_size: int = 10_000, derive: str = "", indexes: str = _INDEXES,
              extra_indexes: str = "") -> dict:
    """``load`` for any data in the feed's shapes: ``catalogue`` holds ``product_groups``,
    ``products`` and ``custom_fields``; ``customers`` yields (customer, its orders).

    Another schema variant (bench/pg_fast.py) builds on this one: ``derive`` runs after
    the COPY and before any index (to add derived columns while writes are cheapest),
    ``indexes`` replaces the keys and indexes above, ``extra_indexes`` (indexes, triggers)
    runs after them; ``derive_seconds`` and ``index_seconds`` time them."""
    from psycopg import sql

    if not conn.autocommit:
        conn.commit()
        conn.autocommit = True
    started = time.perf_counter()
    custom_fields = catalogue["custom_fields"]
    for cf in custom_fields:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,50}", cf["code"]) or cf["type"] not in _CUSTOM_TYPES:
            raise ValueError(f"unsupported custom field {cf!r}")
    custom_columns = "".join(f", custom_{cf['code']} {_CUSTOM_TYPES[cf['type']]}" for cf in custom_fields)
    conn.execute(_DROP)
    conn.execute(_CREATE.replace("{custom_columns}", custom_columns))

    rows = {"product_groups": 0, "product_group_closure": 0, "products": 0,
            "product_group_members": 0, "custom_fields": 0, "customers": 0,
            "customer_tags": 0, "orders": 0, "order_items": 0}

    def copy(table: str, columns: Iterable[str], values: Iterable[tuple]) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
        with conn.cursor().copy(statement) as cp:
            for row in values:
                cp.write_row(row)
                rows[table] += 1

    products = catalogue["products"]
    product_key = {p["id"]: n for n, p in enumerate(products, start=1)}
    with conn.transaction():
        groups = catalogue["product_groups"]
        copy("product_groups", ("id", "name", "parent_id"),
             ((g["id"], g["name"], g.get("parent_id")) for g in groups))
        copy("product_group_closure", ("ancestor", "descendant"), _closure(groups))
        copy("products", ("id", "external_id", "name", "price"),
             ((product_key[p["id"]], p["id"], p["name"], _money(p.get("price"))) for p in products))
        copy("product_group_members", ("product_id", "group_id"),
             ((product_key[p["id"]], g) for p in products for g in dict.fromkeys(p.get("groups") or [])))
        copy("custom_fields", ("code", "label", "type"),
             ((cf["code"], cf["label"], cf["type"]) for cf in custom_fields))

    customer_columns = ["id", "external_id", *_CUSTOMER_COLUMNS,
                        *(f"custom_{cf['code']}" for cf in custom_fields)]
    custom_codes = [cf["code"] for cf in custom_fields]
    stream = _Timed(customers)
    copy_started = time.perf_counter()
    done = next_customer = next_order = 0
    for chunk in _chunks(stream, chunk_size):
        # Surrogate keys, assigned in stream order; only this chunk's are kept in memory.
        keyed = []
        for customer, its_orders in chunk:
            next_customer += 1
            order_keys = []
            for order in its_orders:
                if order["customer_id"] != customer["id"]:
                    raise ValueError(f"order {order['id']} is not of customer {customer['id']}")
                next_order += 1
                order_keys.append((next_order, order))
            keyed.append((next_customer, customer, order_keys))
        with conn.transaction():
            copy("customers", customer_columns,
                 ([key, c["id"], *[c.get(col) for col in _CUSTOMER_COLUMNS],
                   *[(c.get("custom") or {}).get(code) for code in custom_codes]]
                  for key, c, _ in keyed))
            copy("customer_tags", ("customer_id", "tag"),
                 ((key, tag) for key, c, _ in keyed for tag in dict.fromkeys(c.get("tags") or [])))
            copy("orders", ("id", "external_id", "customer_id", "created_at", "status", "pipeline",
                            "store", "total"),
                 ((okey, o["id"], key, o["created_at"], o.get("status"), o.get("pipeline"),
                   o.get("store"), _money(o.get("total")))
                  for key, _, orders in keyed for okey, o in orders))
            copy("order_items", ("order_id", "product_id", "quantity", "price"),
                 ((okey, product_key[item["product_id"]], item.get("quantity"),
                   _money(item.get("price")))
                  for _, _, orders in keyed for okey, o in orders for item in o.get("items") or []))
        done += len(chunk)
        if progress is not None:
            progress(done, total if total is not None else done)
    copy_seconds = time.perf_counter() - copy_started

    derive_started = time.perf_counter()
    if derive:
        conn.execute(derive)
    derive_seconds = time.perf_counter() - derive_started
    index_started = time.perf_counter()
    conn.execute(indexes)
    if extra_indexes:
        conn.execute(extra_indexes)
    index_seconds = time.perf_counter() - index_started
    analyze_started = time.perf_counter()
    conn.execute("VACUUM (ANALYZE)")  # statistics, and the visibility map for index-only scans
    analyze_seconds = time.perf_counter() - analyze_started

    total_rows = sum(rows.values())
    return {
        "rows": rows,
        "total_rows": total_rows,
        "seconds": round(time.perf_counter() - started, 2),
        "copy_seconds": round(copy_seconds, 2),
        "generator_seconds": round(stream.seconds, 2),  # inside copy_seconds: making the data
        "derive_seconds": round(derive_seconds, 2),
        "index_seconds": round(index_seconds, 2),
        "analyze_seconds": round(analyze_seconds, 2),
        "rows_per_s": round(total_rows / copy_seconds) if copy_seconds else None,
        "customers_per_s": round(rows["customers"] / copy_seconds) if copy_seconds else None,
        "rows_per_s_excluding_generator": (round(total_rows / (copy_seconds - stream.seconds))
                                           if copy_seconds > stream.seconds else None),
        "database_mb": round(conn.execute("SELECT pg_database_size(current_database())")
                             .fetchone()[0] / 2**20),
    }


# -------------------------------------------------------------------------- the rules
#
# Conventions of every query below:
# * %(today)s is the day of evaluation (a date), %(tz)s the zone of SEGSEARCH_TIMEZONE.
# * A datetime's calendar day is local_day(t, %(tz)s) = (t AT TIME ZONE %(tz)s)::date (R9);
#   "that day is within [low, high]" is local_day_within(t, %(tz)s, low, high), the exact
#   test (not a bare BETWEEN on local_day(): see its definition). Next to it stands a
#   coarser range on the bare column, widened by a day on each side (no zone is more than
#   14 hours from UTC), which an index and the planner's statistics can use; it only ever
#   admits a superset. An instant range alone ("local midnight AT TIME ZONE tz") would be
#   wrong in zones whose midnight is repeated by a DST change (America/Havana), and where
#   the clock falls back across midnight (Asia/Beirut) the instants of one local day are
#   not even contiguous.
# * Customers without orders have orders_count = total_spent = 0 and no last_order_at (R1):
#   every orders rule of the suite either excludes them by its bounds or says so below.
# * An order matching a product group is tested with EXISTS, never with a join: an order
#   with several matching items (or a product in two matching groups) counts once.

SQL: dict[str, str] = {
    # city in [Moscow]
    "city-moscow": """
SELECT count(*) FROM customers WHERE city = 'Moscow'
""",
    # source in [Yandex.Direct, Google Ads] AND city exclude [Moscow, Saint Petersburg]:
    # a customer without a city passes the exclude-only condition (R5), hence IS NULL.
    "paid-sources-not-capitals": """
SELECT count(*) FROM customers
WHERE source IN ('Yandex.Direct', 'Google Ads')
  AND (city IS NULL OR city NOT IN ('Moscow', 'Saint Petersburg'))
""",
    # total_spent (every order, any status) between 500 and 5000; without orders it is 0,
    # outside the range, so grouping the orders is enough.
    "spent-500-5000": """
SELECT count(*) FROM (
    SELECT customer_id FROM orders
    GROUP BY customer_id
    HAVING sum(total) BETWEEN 500 AND 5000
) spenders
""",
    # the local day of the latest order is within [today-90, today] <=> some order's day is
    # within it and no order's day is after today (the latest must not be in the future).
    "ordered-last-90-days": """
SELECT count(DISTINCT o.customer_id) FROM orders o
WHERE o.created_at >= (%(today)s::date - 91)::timestamp AT TIME ZONE 'UTC'
  AND o.created_at < (%(today)s::date + 2)::timestamp AT TIME ZONE 'UTC'
  AND local_day_within(o.created_at, %(tz)s, %(today)s::date - 90, %(today)s::date)
  AND NOT EXISTS (
      SELECT 1 FROM orders later
      WHERE later.customer_id = o.customer_id
        AND later.created_at >= %(today)s::date::timestamp AT TIME ZONE 'UTC'
        AND local_day(later.created_at, %(tz)s) > %(today)s::date)
""",
    # birthday (month, day) in 12-20..01-10: the range wraps the new year.
    "birthday-20dec-10jan": """
SELECT count(*) FROM customers
WHERE month_day(birthday) >= 1220 OR month_day(birthday) <= 110
""",
    # birthday (month, day) in [md(today), md(today + 7)], wrapping when the week spans
    # the new year (then the first disjunct is an empty range and the second one holds).
    "birthday-next-7-days": """
SELECT count(*) FROM customers
WHERE month_day(birthday) BETWEEN month_day(%(today)s::date) AND month_day(%(today)s::date + 7)
   OR (month_day(%(today)s::date) > month_day(%(today)s::date + 7)
       AND (month_day(birthday) >= month_day(%(today)s::date)
            OR month_day(birthday) <= month_day(%(today)s::date + 7)))
""",
    # age (completed years at today) between 25 and 35, and sex female.
    # age >= 25 <=> birthday <= today - 25 years; age <= 35 <=> birthday > today - 36 years.
    # PostgreSQL clamps 29 Feb - N years to 28 Feb, which is exactly R7: someone born on
    # 29 Feb is a year older from 1 Mar in a non-leap year.
    "women-25-35": """
SELECT count(*) FROM customers
WHERE sex = 'female'
  AND birthday <= (%(today)s::date - interval '25 years')::date
  AND birthday > (%(today)s::date - interval '36 years')::date
""",
    # product_groups in [chinese-tea]: some item of some order is a product in chinese-tea
    # or one of its descendants (R15).
    "bought-chinese-tea": """
SELECT count(DISTINCT o.customer_id)
FROM orders o
JOIN order_items i ON i.order_id = o.id
WHERE i.product_id IN (
    SELECT m.product_id FROM product_group_members m
    JOIN product_group_closure gc ON gc.descendant = m.group_id
    WHERE gc.ancestor = 'chinese-tea')
""",
    # >= 3 orders with status paid/delivered whose local day is within [today-365, today].
    "3-paid-orders-in-a-year": """
SELECT count(*) FROM (
    SELECT customer_id FROM orders
    WHERE status IN ('paid', 'delivered')
      AND created_at >= (%(today)s::date - 366)::timestamp AT TIME ZONE 'UTC'
      AND created_at < (%(today)s::date + 2)::timestamp AT TIME ZONE 'UTC'
      AND local_day_within(created_at, %(tz)s, %(today)s::date - 365, %(today)s::date)
    GROUP BY customer_id
    HAVING count(*) >= 3
) loyal
""",
    # sum of totals of the orders within [today-730, today] that hold at least one item of
    # the tea group (or below) is >= 300. EXISTS: each order's total is added once.
    "tea-spend-300-in-2-years": """
SELECT count(*) FROM (
    SELECT o.customer_id FROM orders o
    WHERE o.created_at >= (%(today)s::date - 731)::timestamp AT TIME ZONE 'UTC'
      AND o.created_at < (%(today)s::date + 2)::timestamp AT TIME ZONE 'UTC'
      AND local_day_within(o.created_at, %(tz)s, %(today)s::date - 730, %(today)s::date)
      AND EXISTS (
          SELECT 1 FROM order_items i
          JOIN product_group_members m ON m.product_id = i.product_id
          JOIN product_group_closure gc ON gc.descendant = m.group_id
          WHERE i.order_id = o.id AND gc.ancestor = 'tea')
    GROUP BY o.customer_id
    HAVING sum(o.total) >= 300
) tea_lovers
""",
    # email_subscribed is true AND NOT (vip is true): a customer without a vip value is not
    # a VIP, so the negated group keeps them (IS NOT TRUE, not vip = false).
    "subscribed-not-vip": """
SELECT count(*) FROM customers
WHERE email_subscribed IS TRUE AND vip IS NOT TRUE
""",
    # city in [Kazan] OR orders_count >= 10.
    "kazan-or-loyal": """
SELECT count(*) FROM customers
WHERE city = 'Kazan'
   OR id IN (SELECT customer_id FROM orders GROUP BY customer_id HAVING count(*) >= 10)
""",
    # local day of created_at within [today-365, today] AND no cancelled order at all
    # (count 0..0: customers without any order qualify).
    "new-never-cancelled": """
SELECT count(*) FROM customers c
WHERE c.created_at >= (%(today)s::date - 366)::timestamp AT TIME ZONE 'UTC'
  AND c.created_at < (%(today)s::date + 2)::timestamp AT TIME ZONE 'UTC'
  AND local_day_within(c.created_at, %(tz)s, %(today)s::date - 365, %(today)s::date)
  AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.status = 'cancelled')
""",
    # custom.married is true AND custom.loyalty_level between 2 and 4 (absent = no value).
    "married-loyalty-2-4": """
SELECT count(*) FROM customers
WHERE custom_married IS TRUE AND custom_loyalty_level BETWEEN 2 AND 4
""",
}


def count_sql(name: str, queries: dict[str, str] | None = None) -> str:
    """The hand-written count query of a SUITE rule (``queries``: another variant's SQL)."""
    try:
        return (SQL if queries is None else queries)[name]
    except KeyError:
        raise ValueError(f"no SQL for rule {name!r}") from None


def count(conn, name: str, today: dt.date, tz: str, queries: dict[str, str] | None = None) -> int:
    return conn.execute(count_sql(name, queries), {"today": today, "tz": tz}).fetchone()[0]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run_suite(conn, today: dt.date, tz: str, calls: int = 30,
              names: Iterable[str] | None = None,
              queries: dict[str, str] | None = None) -> dict[str, dict]:
    """Every rule's count and the median / p95 latency (ms) of ``calls`` warm executions
    (``queries``: another variant's SQL, e.g. bench/pg_fast.py's)."""
    from bench.rules import SUITE
    out: dict[str, dict] = {}
    for name in (names or SUITE):
        first = count(conn, name, today, tz, queries)  # warm-up: caches, plan
        times = []
        for _ in range(max(1, calls)):
            started = time.perf_counter()
            result = count(conn, name, today, tz, queries)
            times.append((time.perf_counter() - started) * 1000)
            if result != first:
                raise RuntimeError(f"{name}: count changed between calls ({first} -> {result})")
        out[name] = {"count": first, "p50_ms": round(statistics.median(times), 2),
                     "p95_ms": round(_pct(times, 0.95), 2)}
    return out
