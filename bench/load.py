"""How busy the machine was around each bench phase, from /proc (Linux).

A figure taken while something else used the CPU is not comparable with one taken on an
idle machine (issue 10 saw 1.5-2.5x between the two), so every phase records the 1-minute
load average before it, the machine's CPU use during it, and the CPU seconds spent by
processes that are not the bench's own (anything outside this checkout and the bench's
ports; kernel threads are left out; per process, so one that ends meanwhile cannot hide
another's use). A phase where others took more than BUSY_SHARE of one
core is marked busy, and RESULTS.md says so.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

BUSY_SHARE = 0.10
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_totals() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    parts = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def _others_seconds(own_markers: tuple[str, ...]) -> dict[tuple[str, str], tuple[str, float]]:
    """CPU seconds used so far by each process that is not the bench's:
    {(pid, start time): (command, seconds)} (the start time tells a reused pid apart)."""
    out: dict[tuple[str, str], tuple[str, float]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            if not cmd or any(m in cmd for m in own_markers):
                continue
            stat = (proc / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            seconds = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
            out[(proc.name, fields[19])] = (cmd[:60], seconds)  # fields[19]: starttime
        except (OSError, ValueError, IndexError):
            continue
    return out


def _used(before: dict, after: dict) -> tuple[float, dict[str, float]]:
    """CPU seconds others used between two snapshots, in all and by command. A process that
    started meanwhile counts whole; one that ended meanwhile is lost (a lower bound)."""
    total, by_cmd = 0.0, {}
    for key, (cmd, seconds) in after.items():
        used = seconds - before.get(key, (cmd, 0.0))[1]
        total += used
        by_cmd[cmd] = by_cmd.get(cmd, 0.0) + used
    return total, by_cmd


class Phase:
    """`with recorder.phase("preview"):` records the phase's load into recorder.phases."""

    def __init__(self, recorder: "LoadRecorder", name: str):
        self.recorder, self.name = recorder, name

    def __enter__(self) -> "Phase":
        self.load_before = os.getloadavg()[0]
        self.started = time.monotonic()
        self.cpu = _cpu_totals()
        self.others = _others_seconds(self.recorder.own)
        return self

    def __exit__(self, *exc: object) -> None:
        took = max(time.monotonic() - self.started, 1e-6)
        busy, total = _cpu_totals()
        others_used, by_cmd = _used(self.others, _others_seconds(self.recorder.own))
        top = sorted(((used, c) for c, used in by_cmd.items()), reverse=True)[:3]
        share = others_used / took  # cores' worth used by others
        self.recorder.phases[self.name] = {
            "seconds": round(took, 1), "load_before": round(self.load_before, 2),
            "load_after": round(os.getloadavg()[0], 2),
            "machine_cpu_busy": round((busy - self.cpu[0]) / max(total - self.cpu[1], 1), 2),
            "others_cores": round(share, 3),
            "others_top": [{"cmd": c, "seconds": round(s, 1)} for s, c in top if s > 0.5],
            "busy": share > BUSY_SHARE,
        }


class LoadRecorder:
    def __init__(self, own_markers: tuple[str, ...]):
        self.own = own_markers
        self.phases: dict[str, dict] = {}

    def phase(self, name: str) -> Phase:
        return Phase(self, name)

    @property
    def busy(self) -> bool:
        return any(p["busy"] for p in self.phases.values())
