"""`make bench`: segsearch at BENCH_CUSTOMERS customers, side by side with PostgreSQL.

Starts its own stack (scripts/services.sh, instance "bench": Elasticsearch, Redis, RQ
workers, scheduler, web app on their own ports), loads the seeded demo data through
segsearch's loader, then measures: ingest rate, preview latency per rule of
bench/rules.py (p50/p95 over warm calls), formation of each rule as a segment, a
recalculation with nothing changed and one after 1% of customers changed, CSV export
rows/s, peak memory of the worker and web processes and the Elasticsearch heap; then
loads the same data into PostgreSQL (bench/pg_peer.py), checks every count is equal
(a mismatch fails the bench) and times the same suite there. The `realtime` phase
(bench/realtime.py) measures membership following a steady feed: BENCH_RT_RATE order
writes/s (200) for BENCH_RT_SECONDS (60), then the follower's ceiling on BENCH_RT_CEILING
(20000) changed customers, with a new segment forming meanwhile. The `analytics` phase times
GET /api/v1/analytics/segments over the 20 formed segments (the suite and bench/rules.py
EXTRA, all flagged for analytics) and 24 monthly buckets.

BENCH_PHASES (comma-separated, default all: preview, formation, recalculation, export,
analytics, realtime, postgres) picks phases; ingest always runs. Every phase records the
machine's load (bench/load.py) and a phase where other processes used the CPU is marked busy.

Writes bench/results/latest.json and bench/RESULTS.md (with a growth curve: the newest
full run of each size). Environment: BENCH_CUSTOMERS (default 100000), BENCH_SEED (42),
BENCH_CALLS (30), BENCH_REPEATS (3 rounds of every phase that leaves the data as it found
it; medians reported), BENCH_PG_CALLS (PostgreSQL's calls per rule and round, default
BENCH_CALLS), BENCH_FORM (only these rules formed), BENCH_ES_HEAP (4g).

BENCH_CLUSTER=1 runs the same phases against the local secured 3-node cluster
(scripts/cluster.sh: TLS, a file-realm user, CLUSTER_ES_HEAP per node) with the customers
index at BENCH_SHARDS (3) shards and BENCH_REPLICAS (1) replica, as instance
"bench-cluster" (its own Redis, web and data under var/bench-cluster, so the single-node
bench data in var/bench is kept). Without BENCH_REUSE the cluster's data is wiped first.
The real-time phase needs the single node (it reads the node without credentials).
BENCH_INSTANCE with BENCH_ES_PORT, BENCH_REDIS_PORT and BENCH_PORT runs a second stack
under var/BENCH_INSTANCE beside a kept one.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import LoadRecorder  # noqa: E402
from bench.rules import EXTRA, SUITE  # noqa: E402

N = int(os.environ.get("BENCH_CUSTOMERS", "100000"))
SEED = int(os.environ.get("BENCH_SEED", "42"))
CALLS = int(os.environ.get("BENCH_CALLS", "30"))
# BENCH_REPEATS: each timed phase that leaves the data as it found it (previews, the
# unchanged recalculation, export, PostgreSQL's suites) runs this many rounds;
# the figures reported are the medians of the rounds', each round's kept beside them.
REPEATS = max(1, int(os.environ.get("BENCH_REPEATS", "3")))
# BENCH_PG_CALLS: warm calls per rule and round in PostgreSQL (default BENCH_CALLS): at 1M
# the normalised schema takes seconds on some rules, so its suite would take most of a run.
PG_CALLS = int(os.environ.get("BENCH_PG_CALLS", str(CALLS)))
ALL_PHASES = ("preview", "formation", "recalculation", "export", "analytics", "realtime", "postgres")
PHASES = [p for p in ALL_PHASES if p in os.environ.get("BENCH_PHASES", ",".join(ALL_PHASES)).split(",")]
# BENCH_REUSE=1: measure again on the previous run's data (var/bench kept by `services
# stop`): no wipe, no ingest, the segments it formed stay.
REUSE = os.environ.get("BENCH_REUSE") == "1"
if (set(PHASES) & {"recalculation", "export", "analytics", "realtime"} and "formation" not in PHASES
        and not REUSE):
    PHASES.insert(0, "formation")  # they read the formed segments
if "postgres" in PHASES and "preview" not in PHASES:
    PHASES.insert(0, "preview")  # the counts PostgreSQL must equal
CLUSTER = os.environ.get("BENCH_CLUSTER") == "1"
if CLUSTER and "realtime" in PHASES:
    PHASES.remove("realtime")
PORTS = ({"SEGSEARCH_ES_PORT": "9270", "SEGSEARCH_REDIS_PORT": "6396", "SEGSEARCH_PORT": "8071"} if CLUSTER
         else {"SEGSEARCH_ES_PORT": "9270", "SEGSEARCH_REDIS_PORT": "6395", "SEGSEARCH_PORT": "8070"})
# BENCH_ES_PORT, BENCH_REDIS_PORT, BENCH_PORT with BENCH_INSTANCE: a second stack beside a
# kept one (e.g. a fresh load measured without wiping var/bench's formed segments).
PORTS = {key: os.environ.get("BENCH_" + key.removeprefix("SEGSEARCH_"), value) for key, value in PORTS.items()}
URL = f"http://127.0.0.1:{PORTS['SEGSEARCH_PORT']}"
INSTANCE = os.environ.get("BENCH_INSTANCE") or ("bench-cluster" if CLUSTER else "bench")
VAR = ROOT / "var" / INSTANCE
TZ = "UTC"


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Api:
    def __init__(self, token: str):
        self.token = token

    def call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(URL + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=3600) as resp:
            return json.load(resp)

    def wait_job(self, job_id: str) -> dict:
        while True:
            job = self.call("GET", f"/api/v1/jobs/{job_id}")
            if job["status"] in ("finished", "failed"):
                if job["status"] == "failed":
                    raise RuntimeError(f"job {job_id} failed")
                return job["result"]
            time.sleep(0.2)


def services(cmd: str) -> None:
    env = {**os.environ, **PORTS, "DEMO_CUSTOMERS": "0", "ES_HEAP": os.environ.get("BENCH_ES_HEAP", "4g")}
    subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), cmd, INSTANCE], env=env, check=True)


def es_settings() -> dict:
    """What points segsearch (and the bench's own reads) at Elasticsearch: the single node,
    or the cluster's URLs, user and CA (`cluster.sh env`) with the shard layout."""
    if not CLUSTER:
        return {"ES_URL": f"http://127.0.0.1:{PORTS['SEGSEARCH_ES_PORT']}"}
    lines = subprocess.run(["bash", str(ROOT / "scripts" / "cluster.sh"), "env"], check=True,
                           capture_output=True, text=True).stdout.splitlines()
    out = dict(line.removeprefix("export ").split("=", 1) for line in lines if "=" in line)
    return {**out, "SEGSEARCH_SHARDS": os.environ.get("BENCH_SHARDS", "3"),
            "SEGSEARCH_REPLICAS": os.environ.get("BENCH_REPLICAS", "1")}


def es_client():
    from segsearch.search.client import make_client
    conf = es_settings()
    client = make_client(conf["ES_URL"], username=conf.get("ES_USERNAME"), password=conf.get("ES_PASSWORD"),
                         ca_certs=conf.get("ES_CA_CERTS"))
    return client.options(request_timeout=300)


def cluster_fresh() -> None:
    """BENCH_CLUSTER without BENCH_REUSE: every run starts empty, as on the single node."""
    script = str(ROOT / "scripts" / "cluster.sh")
    subprocess.run(["bash", script, "stop"], check=True)
    for node in ("n1", "n2", "n3"):
        shutil.rmtree(ROOT / "var" / "cluster" / node / "data", ignore_errors=True)
    subprocess.run(["bash", script, "start"], check=True)


def configuration() -> dict:
    if CLUSTER:
        return {"elasticsearch": f"3-node cluster, TLS and security on, heap {os.environ.get('CLUSTER_ES_HEAP', '1g')} "
                                 f"per node; customers index {os.environ.get('BENCH_SHARDS', '3')} shards, "
                                 f"{os.environ.get('BENCH_REPLICAS', '1')} replica(s)"}
    return {"elasticsearch": f"single node, heap {os.environ.get('BENCH_ES_HEAP', '4g')}; customers index 1 shard, "
                             "no replica"}


def peak_rss_mb(pidfile_glob: str) -> float:
    """Peak resident memory (VmHWM) of the processes behind pid files, and their children."""
    pids = [int(p.read_text()) for p in VAR.glob(pidfile_glob)]
    for pid in list(pids):
        pids += [int(c) for c in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                 text=True).stdout.split()]
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except FileNotFoundError:
            pass
    return round(peak, 1)


def load(app_env: dict) -> dict:
    """Ingest through segsearch's own loader; customers/s and orders/s."""
    os.environ.update(app_env)
    from segsearch import create_app
    from segsearch.demo.generator import DemoConfig, catalogue_data
    from segsearch.feed.loader import import_generated, load_catalog
    app = create_app()
    svc = app.extensions["segsearch"]
    config = DemoConfig(customers=N, seed=SEED, today=TODAY)
    load_catalog(svc.feed, **catalogue_data(config))
    started = time.monotonic()
    # The worker processes generate, validate and encode the documents (BENCH_LOAD_PROCESSES);
    # this one only sends the bulk bodies.
    written, orders = import_generated(svc.feed, config,
                                       processes=int(os.environ.get("BENCH_LOAD_PROCESSES", "2")))
    took = time.monotonic() - started
    return {"customers": written, "orders": orders, "seconds": round(took, 1),
            "customers_per_s": round(written / took), "orders_per_s": round(orders / took)}


def settle(api: Api) -> None:
    """BENCH_REUSE: an interrupted run's formation resumes at start (crash recovery);
    wait for it, so no phase is timed beside it."""
    while forming := [s["code"] for s in api.call("GET", "/api/v1/segments?status=forming&page_size=100")["items"]]:
        log(f"waiting for an earlier run's formation to finish: {', '.join(forming)}")
        time.sleep(10)


def quiesce() -> None:
    """Wait (at most 15 min) until the node runs no merge: a formation rewrites hundreds
    of thousands of customers, and the node merges their segments for minutes after it
    returns, which would be timed as part of the next phase."""
    es = es_client()
    calm, deadline = 0, time.monotonic() + 900
    while calm < 3 and time.monotonic() < deadline:
        running = es.indices.stats(metric="merge")["_all"]["total"]["merges"]["current"]
        calm = calm + 1 if running == 0 else 0
        time.sleep(2)
    log(f"node quiet (no merge running): {calm >= 3}")


def rounds(measure, summary_keys: tuple[str, ...]) -> dict:
    """`measure()` REPEATS times, one after the other; the median of each summary key,
    every round's figures kept under "rounds"."""
    runs = [measure() for _ in range(REPEATS)]
    return {**runs[0], **{k: round(statistics.median(r[k] for r in runs), 2) for k in summary_keys},
            "rounds": [{k: r[k] for k in summary_keys} for r in runs]}


def suite_rounds(run_round) -> dict:
    """A suite of rules measured in REPEATS rounds (every rule once per round, so a
    passing disturbance touches one round of several rules rather than all of one rule's):
    per rule, the median of the rounds' p50 and p95."""
    runs = [run_round() for _ in range(REPEATS)]
    return {name: {"count": runs[0][name]["count"],
                   **{k: round(statistics.median(r[name][k] for r in runs), 2) for k in ("p50_ms", "p95_ms")},
                   "p50_rounds": [r[name]["p50_ms"] for r in runs]}
            for name in runs[0]}


def previews(api: Api) -> dict:
    def one_round() -> dict:
        out = {}
        for name, rule in SUITE.items():
            body = {"rule": rule, "sample_size": 10}
            first = api.call("POST", "/api/v1/segments/preview", body)
            times = []
            for _ in range(CALLS):
                started = time.perf_counter()
                api.call("POST", "/api/v1/segments/preview", body)
                times.append((time.perf_counter() - started) * 1000)
            out[name] = {"count": first["count"], "p50_ms": round(statistics.median(times), 1),
                         "p95_ms": round(pct(times, 0.95), 1)}
            log(f"preview {name}: {out[name]}")
        return out
    return suite_rounds(one_round)


def formations(api: Api) -> dict:
    out = {}
    only = [n for n in os.environ.get("BENCH_FORM", "").split(",") if n]  # BENCH_FORM: these only
    for name, rule in {**SUITE, **EXTRA}.items():
        if only and name not in only:
            continue
        code = f"bench-{name}"
        started = time.monotonic()
        try:
            known = api.call("GET", f"/api/v1/segments/{code}")
        except urllib.error.HTTPError:
            known = None
        if known and known["status"] == "formed":  # BENCH_REUSE: formed by an earlier run
            out[name] = {"seconds": None, "count": known["customers_count"], "formed_earlier": True}
            log(f"formed earlier {name}: {out[name]}")
            continue
        if not known:  # else an interrupted run's formation, which crash recovery resumes
            api.call("POST", "/api/v1/segments", {"code": code, "name": name, "rule": rule,
                                                  "user_group": f"UG-{name}", "available_in_analytics": True})
        while api.call("GET", f"/api/v1/segments/{code}")["status"] != "formed":
            time.sleep(0.2)
        out[name] = {"seconds": round(time.monotonic() - started, 2),
                     "count": api.call("GET", f"/api/v1/segments/{code}")["customers_count"],
                     "job_peak_rss_mb": job_peak_rss(api, code)}
        log(f"formed {name}: {out[name]}")
    return out


def job_peak_rss(api: Api, code: str) -> float | None:
    """Peak RSS of the forked job that formed `code` (its deterministic job id)."""
    from segsearch.segments.jobs import job_id
    try:
        return (api.call("GET", f"/api/v1/jobs/{job_id('segsearch-', code)}").get("result") or {}).get("peak_rss_mb")
    except urllib.error.HTTPError:
        return None  # its result expired: not measured


CHANGED_SEGMENT = "city-moscow"  # the 1% change moves customers in and out of Moscow


def recalculations(api: Api, largest: str) -> dict:
    """The largest segment recalculated with nothing changed, then city-moscow after 1% of
    customers moved in or out of Moscow."""
    def unchanged_once() -> dict:
        started = time.monotonic()
        same = api.wait_job(api.call("POST", f"/api/v1/segments/bench-{largest}/recalculate")["job_id"])
        return {"seconds": round(time.monotonic() - started, 2), "documents_written": same["entered"] + same["left"]}
    unchanged = rounds(unchanged_once, ("seconds", "documents_written"))
    unchanged["documents_written"] = max(r["documents_written"] for r in unchanged["rounds"])  # any, not the median
    changed = change_one_percent(api)
    started = time.monotonic()
    after = api.wait_job(api.call("POST", f"/api/v1/segments/bench-{CHANGED_SEGMENT}/recalculate")["job_id"])
    return {"segment": largest, "unchanged": unchanged, "after_1pct_changed": {
        "segment": CHANGED_SEGMENT, "customers_changed": changed,
        "seconds": round(time.monotonic() - started, 2),
        "entered": after["entered"], "left": after["left"]}}


def change_one_percent(api: Api) -> int:
    """Move 1% of customers (every 100th) to another city through the feed API."""
    from segsearch.demo.generator import DemoConfig, iter_customers
    config = DemoConfig(customers=N, seed=SEED, today=TODAY)
    batch, changed = [], 0
    for i, (customer, _) in enumerate(iter_customers(config)):
        if i % 100:
            continue
        customer = {**customer, "city": "Kazan" if customer.get("city") == "Moscow" else "Moscow"}
        batch.append(customer)
        if len(batch) == 1000:
            changed += api.call("POST", "/api/v1/customers/_bulk?refresh=wait_for", {"customers": batch})["indexed"]
            batch = []
    if batch:
        changed += api.call("POST", "/api/v1/customers/_bulk?refresh=wait_for", {"customers": batch})["indexed"]
    return changed


def export(api: Api, largest: str) -> dict:
    return rounds(lambda: export_once(api, largest), ("seconds", "rows_per_s"))


def export_once(api: Api, largest: str) -> dict:
    req = urllib.request.Request(f"{URL}/api/v1/segments/bench-{largest}/export.csv",
                                 headers={"Authorization": f"Bearer {api.token}"})
    started, rows = time.monotonic(), -1
    with urllib.request.urlopen(req, timeout=3600) as resp:
        for _ in resp:
            rows += 1
    took = time.monotonic() - started
    return {"segment": largest, "rows": rows, "seconds": round(took, 2), "rows_per_s": round(rows / took)}


def analytics(api: Api) -> dict:
    """The analytics request over every flagged segment, 24 monthly buckets to today."""
    first = date(TODAY.year - 2 + (TODAY.month == 12), TODAY.month % 12 + 1, 1)
    path = f"/api/v1/analytics/segments?from={first.isoformat()}&to={TODAY.isoformat()}&interval=month"
    answer = api.call("GET", path)
    times, took = [], []
    for _ in range(CALLS):
        started = time.perf_counter()
        took.append(api.call("GET", path)["took_ms"])
        times.append((time.perf_counter() - started) * 1000)
    return {"segments": len(answer["segments"]), "buckets": len(answer["buckets"]),
            "p50_ms": round(statistics.median(times), 1), "p95_ms": round(pct(times, 0.95), 1),
            "es_took_p50_ms": statistics.median(took), "calls": CALLS,
            "uncached": analytics_uncached([s["code"] for s in answer["segments"]], first)}


def analytics_uncached(codes: list[str], first: date) -> dict:
    """The same search straight to the node with its shard request cache bypassed: what
    the request costs when the index just changed (a live feed refreshes it every second,
    which empties that cache), rather than the cached answer repeated calls above get."""
    from segsearch.segments.analytics import make_period, search
    es = es_client()
    period = make_period(start=first, end=TODAY, interval="month", tz=TZ, today=TODAY)
    counts = {h["_source"]["code"]: h["_source"].get("customers_count") for h in es.search(
        index="segsearch-segments", size=len(codes), query={"terms": {"code": codes}},
        source=["code", "customers_count"])["hits"]["hits"]}
    segments = [{"code": c, "customers_count": counts.get(c)} for c in codes]
    times, took = [], []
    for _ in range(min(CALLS, 10)):  # seconds each at 1M
        started = time.perf_counter()
        took.append(search(es, "segsearch-customers", segments, period, request_cache=False)["took"])
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(pct(times, 0.95), 1),
            "es_took_p50_ms": statistics.median(took)}


CONCURRENT = "spent-500-5000"  # formed again, as a new segment, while the real-time feed runs


def realtime_phase(token: str, app_env: dict) -> dict:
    """bench/realtime.py: a steady feed of BENCH_RT_RATE order writes/s for BENCH_RT_SECONDS,
    change-to-membership latency, preview latency meanwhile, then the follower's ceiling."""
    from bench import realtime
    return realtime.run(realtime.Http(URL, token), realtime.Http(app_env["ES_URL"]), app_env["REDIS_URL"],
                        "segsearch-", int(os.environ.get("BENCH_RT_RATE", "200")),
                        int(os.environ.get("BENCH_RT_SECONDS", "60")),
                        int(os.environ.get("BENCH_RT_CEILING", "20000")),
                        # BENCH_RT_CONCURRENT=0: the feed alone, no formation beside it
                        concurrent_rule=None if os.environ.get("BENCH_RT_CONCURRENT") == "0" else SUITE[CONCURRENT])


def es_heap() -> dict:
    nodes = es_client().nodes.stats(metric="jvm")["nodes"].values()  # summed over a cluster's nodes
    mems = [n["jvm"]["mem"] for n in nodes]
    return {"heap_used_mb": round(sum(m["heap_used_in_bytes"] for m in mems) / 2**20),
            "heap_max_mb": round(sum(m["heap_max_in_bytes"] for m in mems) / 2**20)}


def postgres(es_counts: dict) -> dict:
    """Both PostgreSQL peers on one server, one after the other (each load replaces the
    other's tables): bench/pg_peer.py's normalised schema, then bench/pg_fast.py's derived
    columns kept by triggers. Each load is timed, each suite must equal segsearch's counts.
    The normalised variant's figures stay at the top level (as in earlier runs' JSON)."""
    from bench import pg_fast, pg_peer
    from segsearch.demo.generator import DemoConfig
    data, port = VAR / "postgres", int(os.environ.get("BENCH_PG_PORT", "55433"))
    config = DemoConfig(customers=N, seed=SEED, today=TODAY)
    variants = {}
    pg_peer.start(data, port)
    try:
        conn = pg_peer.connect(port)
        for variant, module in (("normalised", pg_peer), ("fast", pg_fast)):
            loaded = module.load(conn, config)
            log(f"postgres {variant} load: {loaded}")
            variants[variant] = {"load": loaded, "suite": suite_rounds(
                lambda module=module: module.run_suite(conn, TODAY, TZ, calls=PG_CALLS))}
            log(f"postgres {variant} suite: {variants[variant]['suite']}")
        conn.close()
    finally:
        pg_peer.stop(data)
    mismatches = {n: {"segsearch": es_counts[n], **{v: variants[v]["suite"][n]["count"] for v in variants}}
                  for n in SUITE if any(es_counts[n] != variants[v]["suite"][n]["count"] for v in variants)}
    return {**variants["normalised"], "fast": variants["fast"], "mismatches": mismatches}


def main() -> int:
    global TODAY
    TODAY = date.fromisoformat(os.environ.get("BENCH_TODAY", datetime.now(timezone.utc).date().isoformat()))
    log(f"{N} customers, seed {SEED}, today {TODAY}, phases {', '.join(PHASES)}")
    services("stop")  # a previous run's processes, if any, then its data: every run starts empty
    if not REUSE:
        shutil.rmtree(VAR, ignore_errors=True)
    if CLUSTER:
        if not REUSE:
            cluster_fresh()
        os.environ.update(es_settings())  # services.sh then starts no node of its own
    loads = LoadRecorder((str(ROOT), "bench/run.py", *PORTS.values(), "55433"))
    results: dict = {"customers": N, "seed": SEED, "today": TODAY.isoformat(), "calls": CALLS, "pg_calls": PG_CALLS, "repeats": REPEATS,
                     "phases": PHASES, "reused_data": REUSE, "configuration": configuration(),
                     "note": os.environ.get("BENCH_NOTE", ""), "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "load_before_start": round(os.getloadavg()[0], 2),
                     "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                 "python": platform.python_version()}}
    services("start")
    try:
        token = (VAR / "dev-token").read_text().strip()
        app_env = {**es_settings(),
                   "REDIS_URL": f"redis://127.0.0.1:{PORTS['SEGSEARCH_REDIS_PORT']}/0"}
        api = Api(token)
        if REUSE:
            settle(api)
        quiesce()
        if not REUSE:
            with loads.phase("ingest"):
                results["ingest"] = load(app_env)
            log(f"ingest: {results['ingest']}")
            quiesce()  # the load's merges go on for minutes after it returns
        if "preview" in PHASES:
            with loads.phase("preview"):
                results["preview"] = previews(api)
        if "formation" in PHASES:
            with loads.phase("formation"):
                results["formation"] = formations(api)
            quiesce()
        largest = max(SUITE, key=lambda n: results.get("formation", {}).get(n, {}).get("count", 0))
        if "recalculation" in PHASES:
            with loads.phase("recalculation"):
                results["recalculation"] = recalculations(api, largest)
        if "export" in PHASES:
            with loads.phase("export"):
                results["export"] = export(api, largest)
        if "analytics" in PHASES:
            with loads.phase("analytics"):
                results["analytics"] = analytics(api)
            log(f"analytics: {results['analytics']}")
        if "realtime" in PHASES:
            with loads.phase("realtime"):
                results["realtime"] = realtime_phase(token, app_env)
            log(f"realtime: {results['realtime']}")
        results["memory"] = {"worker_peak_rss_mb": peak_rss_mb("worker-*.pid"),
                             "web_peak_rss_mb": peak_rss_mb("web.pid"), "elasticsearch": es_heap()}
    finally:
        services("stop")
    if "postgres" in PHASES:
        es_counts = {n: v["count"] for n, v in results["preview"].items()}
        with loads.phase("postgres"):
            results["postgres"] = postgres(es_counts)
    results["load"] = loads.phases
    results["busy"] = loads.busy
    write(results)
    if results.get("postgres", {}).get("mismatches"):
        log(f"COUNT MISMATCH with PostgreSQL: {results['postgres']['mismatches']}")
        return 1
    return 0


def write(results: dict) -> None:
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = f"{results['customers']}-{results['started_at'][:16].replace(':', '')}.json"
    for path in (out / "latest.json", out / name):  # latest, and every run kept beside it
        path.write_text(json.dumps(results, indent=2))
    (ROOT / "bench" / "RESULTS.md").write_text(results_page(out))
    log(f"wrote {out / 'latest.json'}, {out / name} and bench/RESULTS.md")


def results_page(folder: Path) -> str:
    """Every kept run of at least 100,000 customers, newest first, one section each."""
    runs = [json.loads(p.read_text()) for p in folder.glob("*.json") if p.name != "latest.json"]
    runs = sorted((r for r in runs if r["customers"] >= 100_000), key=lambda r: r.get("started_at", ""),
                  reverse=True)
    parts = ["# Benchmark results", "",
             "Written by `make bench` (bench/run.py) from every run kept in bench/results/, newest first. "
             "Each run says which phases it ran and how busy the machine was.", ""]
    parts += curve(runs)
    for r in runs:
        parts += [f"## {r['customers']:,} customers, {r.get('started_at', r['today'])}", "", markdown(r)]
    return "\n".join(parts)


def faster_pg(r: dict, name: str) -> float | None:
    """The faster PostgreSQL variant's p50 for a rule of run `r` (None: not measured)."""
    p50s = (r.get("postgres", {}).get("suite", {}).get(name, {}).get("p50_ms"),
            r.get("postgres", {}).get("fast", {}).get("suite", {}).get(name, {}).get("p50_ms"))
    return min((v for v in p50s if v), default=None)


def curve(runs: list[dict]) -> list[str]:
    """The growth curve: per size, the newest full single-node run with repeats (fresh
    load, not a cluster), one line of its headline figures."""
    chosen: dict[int, dict] = {}
    for r in runs:  # newest first
        if (r.get("repeats", 1) > 1 and not r.get("reused_data") and r.get("ingest")
                and "cluster" not in r.get("configuration", {}).get("elasticsearch", "")):
            chosen.setdefault(r["customers"], r)
    if not chosen:
        return []
    lines = ["## Growth curve", "",
             "Per size, the newest full single-node run with repeated phases (its section below has "
             "the details). Preview: the range of the 14 rules' p50; formation: the range of members/s "
             "over the segments it formed.", "",
             "| customers | run | busy | ingest customers/s | preview p50 ms | rules <= 50 ms | "
             "faster than the faster PostgreSQL | formation members/s | recalculation unchanged s "
             "| after 1% changed s | export rows/s |", "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size, r in sorted(chosen.items()):
        p50 = [p["p50_ms"] for p in r.get("preview", {}).values()]
        pg = r.get("postgres", {}).get("suite", {})
        beaten = sum(1 for n, p in r.get("preview", {}).items() if (best := faster_pg(r, n)) and p["p50_ms"] < best)
        rates = [round(f["count"] / f["seconds"]) for f in r.get("formation", {}).values() if f.get("seconds")]
        rc = r.get("recalculation", {})
        lines.append(
            f"| {size:,} | {r['started_at'][:16]} | {'yes' if r.get('busy') else 'no'} | "
            f"{r['ingest']['customers_per_s']:,} | {f'{min(p50)}-{max(p50)}' if p50 else '-'} | "
            f"{sum(v <= 50 for v in p50) if p50 else '-'} | {f'{beaten} of {len(p50)}' if pg else '-'} | "
            f"{f'{min(rates):,}-{max(rates):,}' if rates else '-'} | {rc.get('unchanged', {}).get('seconds', '-')} | "
            f"{rc.get('after_1pct_changed', {}).get('seconds', '-')} | "
            f"{round(r['export']['rows_per_s']) if r.get('export') else '-'} |")
    return lines + [""]


def markdown(r: dict) -> str:
    pg = r.get("postgres", {}).get("suite", {})
    pg_fast = r.get("postgres", {}).get("fast", {}).get("suite", {})  # runs before 2026-11-30 have none
    load_before = r.get("load_before_start")
    repeated = ""
    if r.get("repeats", 1) > 1:
        pg_calls = r.get("pg_calls", r["calls"])
        repeated = (f" Timed phases repeated {r['repeats']} times, medians shown"
                    + (f"; PostgreSQL {pg_calls} calls per rule and round." if pg_calls != r["calls"] else "."))
    lines = [
        f"{r['customers']:,} customers (seed {r['seed']}, today {r['today']}), {r['calls']} warm calls per "
        f"measure; phases: {', '.join(r.get('phases', []))}; machine: {r['machine']['cpus']} cores, "
        f"{r['machine']['platform']}, Python {r['machine']['python']}; started {r.get('started_at', r['today'])}"
        + (f", load average before {load_before}" if load_before is not None else "")
        + ("; **taken on a busy machine**." if r.get("busy") else "; idle machine.")
        + repeated
        + (f" {r['note']}" if r.get("note") else ""), "",
    ]
    if r.get("configuration"):
        lines += [f"Elasticsearch: {r['configuration']['elasticsearch']}.", ""]
    if r.get("ingest"):
        lines += [f"Ingest: {r['ingest']['customers_per_s']:,} customers/s, {r['ingest']['orders_per_s']:,} orders/s "
                  f"({r['ingest']['customers']:,} customers, {r['ingest']['orders']:,} orders in "
                  f"{r['ingest']['seconds']} s).", ""]
    else:
        lines += ["Measured again on the data (and formed segments) of the previous run (BENCH_REUSE=1).", ""]
    if "preview" in r:
        lines += ["| rule | count | preview p50 ms | p95 ms | formation s | PostgreSQL normalised p50 ms "
                  "| PostgreSQL fast p50 ms | segsearch / faster PostgreSQL |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        faster = within = 0  # rules where segsearch beats (is within 3x of) the faster PostgreSQL
        for name, p in r["preview"].items():
            pgp, fastp = pg.get(name, {}).get("p50_ms"), pg_fast.get(name, {}).get("p50_ms")
            best = faster_pg(r, name)
            ratio = f"{p['p50_ms'] / best:.2f}" if best else "-"
            faster += bool(best and p["p50_ms"] < best)
            within += bool(best and p["p50_ms"] <= 3 * best)
            formed = r.get("formation", {}).get(name, {}).get("seconds", "-")
            lines.append(f"| {name} | {p['count']:,} | {p['p50_ms']} | {p['p95_ms']} | {formed} | {pgp or '-'} "
                         f"| {fastp or '-'} | {ratio} |")
        if pg:
            lines += ["", f"segsearch's preview p50 is below the faster PostgreSQL's on {faster} of "
                          f"{len(r['preview'])} rules and within 3x of it on {within} (goal: 10 and all)."]
        lines.append("")
    if "formation" in r:
        lines += ["Formation (members/s = members written / seconds from creation to `formed`; peak RSS "
                  "of the forked job that formed it):", "",
                  "| segment | members | seconds | members/s | job peak RSS MiB |", "|---|---:|---:|---:|---:|"]
        for name, f in r["formation"].items():
            rate = round(f["count"] / f["seconds"]) if f["seconds"] else 0
            lines.append(f"| bench-{name} | {f['count']:,} | {f['seconds'] or 'an earlier run'} | {rate or '-'} | "
                         f"{f.get('job_peak_rss_mb') or '-'} |")
        lines.append("")
    if "recalculation" in r:
        rc = r["recalculation"]
        lines.append(f"Recalculation of `{rc['segment']}` with nothing changed: {rc['unchanged']['seconds']} s, "
                     f"{rc['unchanged']['documents_written']} documents written; `{rc['after_1pct_changed']['segment']}` "
                     f"after {rc['after_1pct_changed']['customers_changed']:,} customers (1%) moved in or out of "
                     f"Moscow: {rc['after_1pct_changed']['seconds']} s, {rc['after_1pct_changed']['entered']:,} "
                     f"entered, {rc['after_1pct_changed']['left']:,} left.")
    if "export" in r:
        ex = r["export"]
        each = (" (rounds: " + ", ".join(f"{x['rows_per_s']:,}" for x in ex["rounds"]) + ")") if ex.get("rounds") else ""
        lines.append(f"Export of `{ex['segment']}`: {ex['rows']:,} rows in {ex['seconds']} s "
                     f"= {round(ex['rows_per_s']):,} rows/s{each}.")
    if "analytics" in r:
        a = r["analytics"]
        lines.append(f"Analytics (GET /api/v1/analytics/segments): {a['segments']} flagged segments x {a['buckets']} "
                     f"monthly buckets, p50 {a['p50_ms']} ms, p95 {a['p95_ms']} ms over {a['calls']} calls "
                     f"(Elasticsearch took p50 {a['es_took_p50_ms']} ms); target p50 <= 500 ms.")
        if a.get("uncached"):
            u = a["uncached"]
            lines.append(f"The same search with the node's request cache bypassed (the index just changed): "
                         f"p50 {u['p50_ms']} ms, p95 {u['p95_ms']} ms (took p50 {u['es_took_p50_ms']} ms).")
    lines += realtime_lines(r.get("realtime"))
    if "memory" in r:
        lines.append(f"Peak memory: worker {r['memory']['worker_peak_rss_mb']} MiB, web {r['memory']['web_peak_rss_mb']} "
                     f"MiB; Elasticsearch heap {r['memory']['elasticsearch']['heap_used_mb']} / "
                     f"{r['memory']['elasticsearch']['heap_max_mb']} MiB.")
    if "postgres" in r:
        lines += [f"PostgreSQL load: {r['postgres']['load']}."]
        if r["postgres"].get("fast"):
            lines += [f"PostgreSQL fast variant load (derived columns, triggers): {r['postgres']['fast']['load']}."]
        lines += [f"Count mismatches with PostgreSQL: {r['postgres']['mismatches'] or 'none'}."]
    if not r.get("load"):
        return "\n".join(lines) + "\n"
    lines += ["", "Machine load per phase (others = CPU used by processes that are not the bench's, in cores; "
              "busy when over 0.1):", "", "| phase | seconds | load before | machine CPU busy | others | busy |",
              "|---|---:|---:|---:|---:|---|"]
    for name, ph in r.get("load", {}).items():
        lines.append(f"| {name} | {ph['seconds']} | {ph['load_before']} | {ph['machine_cpu_busy']} | "
                     f"{ph['others_cores']} | {'yes' if ph['busy'] else 'no'} |")
    return "\n".join(lines) + "\n"


def realtime_lines(rt: dict | None) -> list[str]:
    if not rt:
        return []
    st, ce = rt["steady"], rt["ceiling"]
    segments = f" with {rt['active_segments']} active dynamic segments" if "active_segments" in rt else ""
    concurrent = (f"; a new segment of {rt['concurrent']['count']:,} members formed meanwhile in "
                  f"{rt['concurrent']['seconds']} s") if rt.get("concurrent") else ""
    return [(f"Real-time membership{segments}: {st['writes']:,} order writes at {st['achieved_rate']}/s "
            f"(target {st['target_rate']}/s, {st['seconds']} s); change-to-membership latency "
            f"p50 {st['latency_s']['p50']} s, p95 {st['latency_s']['p95']} s, max {st['latency_s']['max']} s "
            f"({st['latency_s']['unsettled_after_120s']} unsettled, backlog at the end {st.get('backlog_end', '-')}); "
            f"preview p50 {st['preview_ms']['p50']} ms, p95 {st['preview_ms']['p95']} ms meanwhile{concurrent}. "
            f"Follower ceiling: {ce['customers_per_s']:,} customers/s "
            f"({ce['customers']:,} changed customers drained in {ce['drained_seconds']} s).")]


if __name__ == "__main__":
    sys.exit(main())
