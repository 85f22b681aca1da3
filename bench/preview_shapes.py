"""The preview's query shape, before and after (issue 10): the rule as a post_filter under
match_all with a sorted sample (old) against segsearch.segments.preview (the rule as the
query, group counts in the same msearch). Both must count the same; wall ms p50 / p95 of
15 warm calls per rule of bench/rules.py, straight against Elasticsearch (no web layer).

    ES_URL=http://127.0.0.1:9270 .venv/bin/python bench/preview_shapes.py OUT.json
"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from datetime import date

from elasticsearch import Elasticsearch

from bench.rules import SUITE
from segsearch.rules.compiler import compile_group, compile_rule
from segsearch.rules.fields import catalogue
from segsearch.rules.validation import validate_rule
from segsearch.segments.preview import preview

es = Elasticsearch(os.environ.get("ES_URL", "http://127.0.0.1:9270"), request_timeout=120)
idx = "segsearch-customers"
fields = catalogue([h["_source"] for h in es.search(index="segsearch-custom-fields", size=100)["hits"]["hits"]])
today = date.fromisoformat(os.environ.get("BENCH_TODAY", date.today().isoformat()))
def old(rule):
    q = compile_rule(rule, fields, today=today, timezone="UTC")
    groups = {str(i): compile_group(g, fields, today=today, timezone="UTC") for i, g in enumerate(rule["groups"])}
    body = {"query": {"match_all": {}}, "post_filter": q, "track_total_hits": True, "size": 10,
            "_source": {"excludes": ["orders", "birthday_md", "custom_md"]}, "sort": [{"id": "asc"}],
            "aggs": {"groups": {"filters": {"filters": groups}}}}
    return es.search(index=idx, **body)["hits"]["total"]["value"]
def new(rule):
    return preview(es, idx, fields, rule, today=today, timezone="UTC")["count"]
def timed(fn, rule, n=15):
    fn(rule)
    xs = []
    for _ in range(n):
        t = time.perf_counter()
        fn(rule)
        xs.append((time.perf_counter() - t) * 1000)
    xs.sort()
    return round(statistics.median(xs), 1), round(xs[int(0.95 * (len(xs) - 1))], 1)
out = {}
for name, raw in SUITE.items():
    rule = validate_rule(raw, fields)
    assert old(rule) == new(rule), name
    out[name] = {"count": new(rule), "old": timed(old, rule), "new": timed(new, rule)}
    print(name, out[name], flush=True)
with open(sys.argv[1] if len(sys.argv) > 1 else "preview-shapes.json", "w") as f:
    json.dump(out, f, indent=1)
