"""Preview latency over a running instance (`make up`): median and p95 of N calls per rule.

    .venv/bin/python bench/preview_latency.py [--url http://127.0.0.1:8000] [--calls 20]

Reads the token from var/dev/dev-token unless SEGSEARCH_TOKEN is set. Not part of
`make test`: speed is measured here, never asserted in a test.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import urllib.request
from pathlib import Path


def cond(block, *conditions, negate=False, match="all"):
    return {"block": block, "match": match, "negate": negate, "conditions": list(conditions)}


RULES = {
    "except Moscow": [cond("customer", {"field": "city", "op": "in", "exclude": ["Moscow"]})],
    "birthday next 3 days (ignore year)": [cond("customer", {
        "field": "birthday", "op": "relative", "ignore_year": True, "from_days": 0, "to_days": 3})],
    "Chinese tea, last order within 92 days": [
        cond("products", {"field": "product_groups", "op": "in", "include": ["chinese-tea"]}),
        cond("orders", {"field": "last_order_at", "op": "relative", "from_days": -92, "to_days": 0})],
    ">= 3 paid orders in a year, not VIP": [
        cond("orders", {"field": "orders", "op": "count", "min": 3, "where": {
            "statuses": ["paid", "delivered"], "created": {"op": "relative", "from_days": -365, "to_days": 0}}}),
        cond("customer", {"field": "vip", "op": "is", "value": True}, negate=True)],
    "women 25-40 or spent >= 500 in 2 years": [cond("customer",
        {"field": "age", "op": "between", "from": 25, "to": 40},
        {"field": "sex", "op": "in", "include": ["female"]}),
        cond("orders", {"field": "orders", "op": "sum", "from": 500, "to": None,
                        "where": {"created": {"op": "relative", "from_days": -730, "to_days": 0}}})],
}


def call(url: str, token: str, rule_groups: list, match: str = "any") -> tuple[float, dict]:
    body = json.dumps({"rule": {"match": match, "groups": rule_groups}, "sample_size": 10}).encode()
    req = urllib.request.Request(f"{url}/api/v1/segments/preview", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(req) as resp:
        out = json.load(resp)
    return (time.perf_counter() - started) * 1000, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    token = os.environ.get("SEGSEARCH_TOKEN") or Path("var/dev/dev-token").read_text().strip()
    print(f"{'rule':45} {'count':>8} {'median ms':>10} {'p95 ms':>8} {'ES took':>8}")
    for name, groups in RULES.items():
        match = "any" if name.startswith("women") else "all"
        call(args.url, token, groups, match)  # warm
        runs = [call(args.url, token, groups, match) for _ in range(args.calls)]
        ms = sorted(r[0] for r in runs)
        es_took = statistics.median(r[1]["es_took_ms"] for r in runs)
        p95 = ms[max(0, int(len(ms) * 0.95) - 1)]
        print(f"{name:45} {runs[0][1]['count']:>8} {statistics.median(ms):>10.1f} {p95:>8.1f} {es_took:>8.0f}")


if __name__ == "__main__":
    main()
