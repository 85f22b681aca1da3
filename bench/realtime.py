"""Real-time membership under a steady feed (CONTRACT 6.1), against a running instance.

1. Creates segment `rt-probe` (customers with an order in pipeline `rt-in`) and waits
   for its formation.
2. Steady feed: RATE order writes/s for SECONDS s through the API (a _bulk of RATE/10
   orders every 100 ms, BENCH_RT_TICK), each flipping one
   customer's probe order between pipelines `rt-in` and `rt-out`, so every write moves
   the customer in or out of `rt-probe`. A checker reads the written customers' documents
   (one real-time _mget every 50 ms) and records, per write, the time from the write's
   response to the document showing the new membership: p50 / p95 / max. Preview
   latency of one rule is sampled meanwhile, and the pending backlog at the end says
   whether the follower kept up.
3. Ceiling: CEILING orders in bulk requests as fast as the API takes them; customers/s
   from the first write to an empty pending set = what the follower(s) can sustain.

Used by bench/run.py (`realtime` phase). Standalone, against `make up`:
    BENCH_URL=http://127.0.0.1:8000 BENCH_TOKEN=$(cat var/dev/dev-token) \\
    ES_URL=http://127.0.0.1:9200 REDIS_URL=redis://127.0.0.1:6380/0 \\
    .venv/bin/python bench/realtime.py [RATE SECONDS CEILING]
"""
from __future__ import annotations

import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICK = float(os.environ.get("BENCH_RT_TICK", "0.1"))  # seconds between two feed requests
PROBE = {"match": "all", "groups": [{"block": "orders", "match": "all", "conditions": [
    {"field": "orders", "op": "count", "min": 1, "max": None, "where": {"pipelines": ["rt-in"]}}]}]}
PREVIEW = {"match": "all", "groups": [{"block": "orders", "match": "all", "conditions": [
    {"field": "orders", "op": "sum", "from": 100, "to": None}]}]}


class Http:
    def __init__(self, base: str, token: str | None = None):
        self.base, self.token = base.rstrip("/"), token

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=600) as resp:
            return json.load(resp)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))], 3) if ordered else 0.0


def customer_ids(api: Http, limit: int) -> list[str]:
    out, cursor = [], None
    while len(out) < limit:
        page = api.call("GET", "/api/v1/customers?page_size=1000" + (f"&cursor={cursor}" if cursor else ""))
        out += [c["id"] for c in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return out[:limit]


def probe_order(cid: str, inside: bool) -> dict:
    return {"id": f"rt-{cid}", "customer_id": cid, "status": "paid", "total": 1,
            "created_at": "2025-01-01T00:00:00Z", "pipeline": "rt-in" if inside else "rt-out"}


class Checker(threading.Thread):
    """Polls the written customers' documents until each shows what its write implies."""

    def __init__(self, es: Http, index: str):
        super().__init__(daemon=True)
        self.es, self.index = es, index
        self.waiting: dict[str, tuple[bool, float]] = {}  # cid -> (expected member?, response time)
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def expect(self, cid: str, inside: bool, at: float) -> None:
        with self.lock:
            self.waiting[cid] = (inside, at)  # a later write for the same customer supersedes

    def run(self) -> None:
        while not (self.stop.is_set() and not self.waiting):
            with self.lock:
                ids = list(self.waiting)
            if ids:
                docs = self.es.call("POST", f"/{self.index}/_mget?_source_includes=segments",
                                    {"ids": ids})["docs"]
                now = time.monotonic()
                with self.lock:
                    for d in docs:
                        want = self.waiting.get(d["_id"])
                        member = "rt-probe" in ((d.get("_source") or {}).get("segments") or [])
                        if want and member == want[0]:
                            self.latencies.append(now - want[1])
                            del self.waiting[d["_id"]]
            time.sleep(0.05)


def steady(api: Http, es: Http, index: str, ids: list[str], rate: int, seconds: int,
           backlog=lambda: None) -> dict:
    checker = Checker(es, index)
    checker.start()
    state = {cid: False for cid in ids}
    previews: list[float] = []
    done = threading.Event()

    def preview_loop():
        while not done.is_set():
            started = time.perf_counter()
            api.call("POST", "/api/v1/segments/preview", {"rule": PREVIEW, "sample_size": 10})
            previews.append((time.perf_counter() - started) * 1000)
            time.sleep(0.5)
    previewer = threading.Thread(target=preview_loop, daemon=True)
    previewer.start()
    # The feed arrives as a shop's sync sends it: every TICK seconds one _bulk of
    # rate*TICK orders (a single PUT per order costs several node round trips, about 4 per
    # order bulk, so on two cores the API's PUT ceiling is below 200/s; see the README's
    # real-time section). Senders in a pool keep
    # the schedule whatever one request takes; customers are taken in a shuffled rotation
    # (>= 5 s apart), so two writes to one customer never overlap.
    order = list(ids)
    random.Random(7).shuffle(order)
    late = 0
    per_tick = max(1, round(rate * TICK))

    def send(batch: list[tuple[str, bool]]) -> None:
        api.call("POST", "/api/v1/orders/_bulk", {"orders": [probe_order(c, i) for c, i in batch]})
        at = time.monotonic()
        for cid, inside in batch:
            checker.expect(cid, inside, at)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = []
        for tick in range(round(seconds / TICK)):
            pause = started + tick * TICK - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                late += 1
            batch = []
            for k in range(per_tick):
                cid = order[(tick * per_tick + k) % len(order)]
                state[cid] = not state[cid]
                batch.append((cid, state[cid]))
            futures.append(pool.submit(send, batch))
        for f in futures:
            f.result()
    writes = len(futures) * per_tick
    took = time.monotonic() - started
    backlog_end = backlog()  # changed customers not yet evaluated as the last write answered
    done.set()
    checker.stop.set()
    checker.join(timeout=120)
    lat = checker.latencies
    return {"target_rate": rate, "seconds": seconds, "writes": writes,
            "achieved_rate": round(writes / took, 1), "late_ticks": late, "backlog_end": backlog_end,
            "latency_s": {"p50": pct(lat, 0.5), "p95": pct(lat, 0.95), "max": round(max(lat), 3) if lat else 0,
                          "measured": len(lat), "unsettled_after_120s": len(checker.waiting)},
            "preview_ms": {"p50": round(statistics.median(previews), 1) if previews else None,
                           "p95": pct(previews, 0.95), "calls": len(previews)}}


def ceiling(api: Http, redis_url: str, prefix: str, ids: list[str], count: int) -> dict:
    from redis import Redis
    redis = Redis.from_url(redis_url)
    pending = f"{prefix}realtime:pending"
    chosen = (ids * (count // max(1, len(ids)) + 1))[:count]
    chosen = list(dict.fromkeys(chosen))  # one write per customer
    started = time.monotonic()
    for start in range(0, len(chosen), 1000):
        orders = [probe_order(cid, True) for cid in chosen[start:start + 1000]]
        api.call("POST", "/api/v1/orders/_bulk", {"orders": orders})
    written = time.monotonic() - started
    while redis.zcard(pending):
        time.sleep(0.05)
    took = time.monotonic() - started
    return {"customers": len(chosen), "write_seconds": round(written, 2),
            "drained_seconds": round(took, 2), "customers_per_s": round(len(chosen) / took)}


def run(api: Http, es: Http, redis_url: str, prefix: str, rate: int, seconds: int, count: int,
        concurrent_rule: dict | None = None) -> dict:
    """The whole phase; assumes a follower runs (scripts/services.sh starts one). With
    `concurrent_rule`, a new segment of that rule starts forming as the steady feed starts."""
    from redis import Redis
    try:
        api.call("POST", "/api/v1/segments", {"code": "rt-probe", "name": "rt probe", "rule": PROBE})
    except urllib.error.HTTPError as err:
        if err.code != 409:  # a standalone rerun reuses the probe segment
            raise
    while api.call("GET", "/api/v1/segments/rt-probe")["status"] != "formed":
        time.sleep(0.2)
    ids = customer_ids(api, max(count, rate * 5))
    active = len(api.call("GET", "/api/v1/segments?active=true&type=dynamic&page_size=1000")["items"])
    out: dict = {"segment": "rt-probe", "active_segments": active}
    concurrent = f"rt-concurrent-{int(time.time())}"  # a rerun on the same data forms a new one
    if concurrent_rule is not None:
        api.call("POST", "/api/v1/segments", {"code": concurrent, "name": "formed during the feed",
                                              "rule": concurrent_rule})
        concurrent_started = time.monotonic()
    pending = Redis.from_url(redis_url)
    out["steady"] = steady(api, es, f"{prefix}customers", ids, rate, seconds,
                           backlog=lambda: pending.zcard(f"{prefix}realtime:pending"))
    if concurrent_rule is not None:
        while (seg := api.call("GET", f"/api/v1/segments/{concurrent}"))["status"] != "formed":
            time.sleep(0.2)
        out["concurrent"] = {"count": seg["customers_count"],
                             "seconds": round(time.monotonic() - concurrent_started, 1)}
    out["ceiling"] = ceiling(api, redis_url, prefix, ids, count)
    return out


def main(argv: list[str]) -> int:
    rate, seconds, count = (int(a) for a in (argv + ["200", "60", "20000"][len(argv):])[:3])
    api = Http(os.environ.get("BENCH_URL", "http://127.0.0.1:8000"), os.environ["BENCH_TOKEN"])
    es = Http(os.environ.get("ES_URL", "http://127.0.0.1:9200"))
    result = run(api, es, os.environ.get("REDIS_URL", "redis://127.0.0.1:6380/0"),
                 os.environ.get("SEGSEARCH_INDEX_PREFIX", "segsearch-"), rate, seconds, count)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
