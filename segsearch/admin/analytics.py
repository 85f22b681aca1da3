"""Admin: the Analytics page (segments flagged for analytics, against all customers).

The figures come from segsearch.segments.analytics.report, the same service call as
`GET /api/v1/analytics/segments`; this module only reads the form, draws the SVG charts
(server-side, so nothing is loaded from elsewhere and no script is needed) and serves the
table as CSV.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from flask import Response, render_template, request

from segsearch import clock
from segsearch.admin import blp
from segsearch.errors import Invalid
from segsearch.extensions import services
from segsearch.segments import analytics

METRICS = (("revenue", "Revenue"), ("orders", "Orders"), ("buyers", "Buyers"),
           ("average_order_value", "Average order value"))
WIDTH, HEIGHT, PAD_LEFT, PAD, PAD_RIGHT = 560, 200, 52, 14, 40
PALETTE = 8  # CSS classes series-0 .. series-7


def _form_period(args: Mapping[str, str]) -> tuple[analytics.Period, dict[str, str]]:
    """The period from the form's fields; a bad date is a 422 naming the field."""
    tz = services().config["TIMEZONE"]
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        text = (args.get(name) or "").strip()
        try:
            days[name] = date.fromisoformat(text) if text else None
        except ValueError:
            raise Invalid(f"'{name}' must be a date (YYYY-MM-DD).",
                          {name: ["Must be a date (YYYY-MM-DD)."]}) from None
    statuses = [s.strip() for s in (args.get("statuses") or "").split(",") if s.strip()] or None
    period = analytics.make_period(start=days["from"], end=days["to"], interval=args.get("interval"),
                                   tz=tz, today=clock.today(tz), statuses=statuses)
    form = {"from": period.start.isoformat(), "to": period.end.isoformat(),
            "interval": period.interval, "statuses": ",".join(statuses or [])}
    return period, form


def _report(args: Mapping[str, str]) -> tuple[dict, dict[str, str]]:
    period, form = _form_period(args)
    svc = services()
    return analytics.report(svc.es, svc.indices, codes=None, period=period), form


def _ticks(high: float) -> list[float]:
    """Three round gridlines from 0 to at least `high`."""
    if high <= 0:
        return [0.0, 1.0]
    step = 10 ** (len(str(int(high))) - 1)
    while high / step > 4:
        step *= 2
    return [i * step for i in range(int(high // step) + 2)]


def chart(rows: Sequence[Mapping[str, Any]], metric: str, buckets: Sequence[str],
          interval: str = "month") -> dict:
    """SVG geometry of one metric over the buckets: a polyline per row, gridlines, labels."""
    # A bucket without orders has no average: that point is left out, not drawn as 0.
    values = [[b.get(metric) for b in row["series"]] for row in rows]
    ticks = _ticks(max((v for vs in values for v in vs if v is not None), default=0))
    top = ticks[-1] or 1
    step = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(len(buckets) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return round(PAD_LEFT + i * step, 1), round(HEIGHT - PAD - v / top * (HEIGHT - 2 * PAD), 1)

    lines = []
    for n, (row, vs) in enumerate(zip(rows, values)):
        points = [(i, *xy(i, v)) for i, v in enumerate(vs) if v is not None]
        lines.append({"name": row["name"], "baseline": row.get("code") is None,
                      "css": "series-base" if row.get("code") is None else f"series-{n % PALETTE}",
                      "points": " ".join(f"{x},{y}" for _, x, y in points),
                      "dots": [{"x": x, "y": y, "title": f"{row['name']}, {buckets[i]}: {vs[i]}"}
                               for i, x, y in points]})
    label_every = max(1, -(-len(buckets) // 7))
    return {"width": WIDTH, "height": HEIGHT, "lines": lines,
            "grid": [{"y": xy(0, t)[1], "label": f"{t:g}"} for t in ticks],
            "labels": [{"x": xy(i, 0)[0], "text": b[:7] if interval == "month" else b[5:]}
                       for i, b in enumerate(buckets) if i % label_every == 0],
            "bottom": HEIGHT - PAD, "left": PAD_LEFT, "right": WIDTH - PAD_RIGHT}


@blp.route("/analytics", methods=["GET"])
def analytics_page() -> Any:
    try:
        answer, form = _report(request.args)
    except Invalid as err:
        # A filter form shown again with its errors next to the fields (the API answers 422).
        return render_template("admin/analytics.html", answer=None, charts=[], errors=err.errors,
                               form=dict(request.args), intervals=analytics.INTERVALS)
    rows = [*answer["segments"], answer["baseline"]]
    charts = [{"metric": m, "label": label, "svg": chart(rows, m, answer["buckets"], answer["interval"])}
              for m, label in METRICS]
    return render_template("admin/analytics.html", answer=answer, charts=charts, errors={},
                           form=form, intervals=analytics.INTERVALS)


@blp.route("/analytics.csv", methods=["GET"])
def analytics_csv() -> Response:
    answer, form = _report(request.args)
    name = f"segment-analytics-{form['from']}-{form['to']}-{form['interval']}.csv"
    return Response(analytics.table_csv(answer), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
