"""CSV export rate over a running instance (`make up`): rows/s of GET /segments/{code}/export.csv.

    .venv/bin/python bench/export_rate.py --segment CODE [--url http://127.0.0.1:8000] [--runs 3]

Reads the token from var/dev/dev-token unless SEGSEARCH_TOKEN is set. Creates nothing: it
exports an existing segment and parses the stream as it arrives (the csv module, so a row
holding a line break counts once). Not part of `make test`: speed is measured here, never
asserted in a test.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    """One export: rows (header excluded), bytes, time to the first byte and in total."""

    rows: int
    bytes: int
    first_byte_s: float
    total_s: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.total_s if self.total_s else 0.0


class _Counting(io.RawIOBase):
    """Passes the response through, counting bytes and noting when the first one came."""

    def __init__(self, resp, started: float):
        self.resp, self.started = resp, started
        self.bytes, self.first_byte_s = 0, 0.0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        data = self.resp.read1(len(buf)) if hasattr(self.resp, "read1") else self.resp.read(len(buf))
        if data and not self.bytes:
            self.first_byte_s = time.perf_counter() - self.started
        self.bytes += len(data)
        buf[:len(data)] = data
        return len(data)


def export_once(url: str, token: str, segment: str) -> Run:
    """Stream one export to the end, counting CSV rows as they arrive."""
    req = urllib.request.Request(f"{url}/api/v1/segments/{segment}/export.csv",
                                 headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(req) as resp:
        raw = _Counting(resp, started)
        text = io.TextIOWrapper(io.BufferedReader(raw, 1 << 16), encoding="utf-8", newline="")
        rows = sum(1 for _ in csv.reader(text)) - 1  # minus the header
    return Run(rows, raw.bytes, raw.first_byte_s, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segment", required=True, help="code of an existing segment")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    token = os.environ.get("SEGSEARCH_TOKEN") or Path("var/dev/dev-token").read_text().strip()
    try:
        runs = [export_once(args.url, token, args.segment) for _ in range(args.runs)]
    except urllib.error.HTTPError as err:
        raise SystemExit(f"{err.code} {err.read().decode(errors='replace')}") from None
    print(f"{'run':>4} {'rows':>10} {'MB':>8} {'first byte ms':>14} {'seconds':>8} {'rows/s':>10}")
    for i, run in enumerate(runs, 1):
        print(f"{i:>4} {run.rows:>10} {run.bytes / 1e6:>8.1f} {run.first_byte_s * 1000:>14.0f} "
              f"{run.total_s:>8.2f} {run.rows_per_s:>10,.0f}")
    print(f"median {statistics.median(r.rows_per_s for r in runs):,.0f} rows/s "
          f"of segment {args.segment!r} ({runs[0].rows} members)")


if __name__ == "__main__":
    main()
