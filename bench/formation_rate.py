"""Formation rate over a running instance (`make up` or scripts/services.sh): members/s.

    .venv/bin/python bench/formation_rate.py --url http://127.0.0.1:8083 \\
        --es http://127.0.0.1:9283 --instance NAME [--rules city-moscow,kazan-or-loyal] [--runs 3]

For each rule of bench/rules.py named: creates the segment `rate-<rule>`, times it from
the POST to `status: formed` (the job's own result gives the forked job's peak RSS),
deletes it and times the delete formation (until no customer carries the code, read
from Elasticsearch), `--runs` times; prints one line per run and the medians. Besides
the bench's rules, `everyone` (every customer with a city) and `one-in-ten` (10%) show
the job's memory against the segment's size. The token comes from
var/<instance>/dev-token unless SEGSEARCH_TOKEN is set. Not part of `make test`: speed is measured here, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.rules import EXTRA, SUITE  # noqa: E402
from segsearch.segments.jobs import job_id  # noqa: E402

ALL = {**SUITE, **EXTRA,
       "everyone": {"match": "all", "groups": [{"block": "customer", "conditions": [
           {"field": "city", "op": "in", "exclude": ["-"]}]}]},
       "one-in-ten": {"match": "all", "groups": [{"block": "customer", "conditions": [
           {"field": "age", "op": "between", "from": 30, "to": 34}]}]}}


class Api:
    def __init__(self, url: str, token: str, es: str, prefix: str):
        self.url, self.token, self.es, self.prefix = url, token, es, prefix

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as resp:
            text = resp.read()
            return json.loads(text) if text else {}

    def wait(self, predicate, timeout: float = 3600) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("formation did not end")
            time.sleep(0.1)


def gone(api: Api, code: str) -> bool:
    try:
        api.call("GET", f"/api/v1/segments/{code}")
        return False
    except urllib.error.HTTPError as err:
        return err.code == 404


def form_once(api: Api, name: str, prefix: str) -> dict:
    code = f"rate-{name}"
    if not gone(api, code):
        api.call("DELETE", f"/api/v1/segments/{code}")
    api.wait(lambda: gone(api, code) and not _carried(api, code))
    started = time.monotonic()
    api.call("POST", "/api/v1/segments", {"code": code, "name": code, "rule": ALL[name],
                                          "user_group": f"UG-{name}"})
    job = job_id(prefix, code)
    api.wait(lambda: api.call("GET", f"/api/v1/segments/{code}")["status"] in ("formed", "failed"))
    seconds = time.monotonic() - started
    seg = api.call("GET", f"/api/v1/segments/{code}")
    api.wait(lambda: api.call("GET", f"/api/v1/jobs/{job}")["status"] in ("finished", "failed"))
    result = api.call("GET", f"/api/v1/jobs/{job}").get("result") or {}
    api.call("DELETE", f"/api/v1/segments/{code}")
    deleted = time.monotonic()
    api.wait(lambda: not _carried(api, code))
    left_s = time.monotonic() - deleted
    members = seg["customers_count"]
    return {"rule": name, "status": seg["status"], "members": members, "seconds": round(seconds, 2),
            "members_per_s": round(members / seconds) if seconds else None,
            "delete_seconds": round(left_s, 2),
            "left_per_s": round(members / left_s) if left_s else None,
            "peak_rss_mb": result.get("peak_rss_mb"), "took_ms": result.get("took_ms")}


def _carried(api: Api, code: str) -> bool:
    """Some customer still carries the code (its delete formation has not ended)."""
    req = urllib.request.Request(f"{api.es}/{api.prefix}customers/_count?q=segments:{code}")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)["count"] > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--es", default="http://127.0.0.1:9200")
    parser.add_argument("--prefix", default="segsearch-")
    parser.add_argument("--instance", default="dev")
    parser.add_argument("--rules", default="city-moscow")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    token = os.environ.get("SEGSEARCH_TOKEN") or (root / "var" / args.instance / "dev-token").read_text().strip()
    api = Api(args.url, token, args.es, args.prefix)
    for name in args.rules.split(","):
        runs = [form_once(api, name, args.prefix) for _ in range(args.runs)]
        for run in runs:
            print(json.dumps(run), flush=True)
        rates = [r["members_per_s"] for r in runs if r["members_per_s"]]
        if rates:
            print(json.dumps({"rule": name, "median_members_per_s": statistics.median(rates),
                              "median_left_per_s": statistics.median(
                                  [r["left_per_s"] for r in runs if r["left_per_s"]])}), flush=True)


if __name__ == "__main__":
    main()
