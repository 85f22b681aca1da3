"""Analytics with a segment axis over HTTP (CONTRACT 6.9)."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from segsearch import clock
from segsearch.api.security import requires
from segsearch.extensions import services
from segsearch.segments import analytics

blp = Blueprint("analytics", __name__, url_prefix="/api/v1", description="Analytics")

CODE = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class CommaList(fields.String):
    """`a,b,c` in a query string -> ["a", "b", "c"] (empty items dropped)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        return [part.strip() for part in text.split(",") if part.strip()]


class AnalyticsArgs(Schema):
    start = fields.Date(data_key="from", load_default=None,
                        metadata={"description": "first calendar day (default: 12 months back)"})
    end = fields.Date(data_key="to", load_default=None, metadata={"description": "last day (default: today)"})
    interval = fields.String(load_default="month", validate=validate.OneOf(analytics.INTERVALS))
    codes = CommaList(load_default=None, validate=validate.Length(max=2000),
                      metadata={"description": "comma-separated segment codes (default: those "
                                               "available in analytics)"})
    statuses = CommaList(load_default=None, validate=validate.Length(max=2000),
                         metadata={"description": "comma-separated order statuses (default: all)"})


class Figures(Schema):
    orders = fields.Integer()
    revenue = fields.Float()
    buyers = fields.Integer()
    average_order_value = fields.Float(allow_none=True)


class Bucket(Figures):
    start = fields.String()


class Row(Figures):
    code = fields.String(allow_none=True)
    name = fields.String()
    customers = fields.Integer()
    revenue_share = fields.Float(allow_none=True)
    series = fields.List(fields.Nested(Bucket))


class AnalyticsOut(Schema):
    start = fields.String(data_key="from", attribute="from")
    end = fields.String(data_key="to", attribute="to")
    interval = fields.String()
    timezone = fields.String()
    statuses = fields.List(fields.String(), allow_none=True)
    buckets = fields.List(fields.String())
    segments = fields.List(fields.Nested(Row))
    baseline = fields.Nested(Row)
    took_ms = fields.Integer()


@blp.route("/analytics/segments", methods=["GET"])
@requires("segments:read")
@blp.arguments(AnalyticsArgs, location="query")
@blp.response(200, AnalyticsOut)
@blp.doc(summary="Customers, buyers, orders, revenue and AOV per segment and over time")
def segment_analytics(args):
    svc = services()
    period = period_from(args)
    return analytics.report(svc.es, svc.indices, codes=args["codes"], period=period)


def period_from(args: dict) -> analytics.Period:
    tz = services().config["TIMEZONE"]
    return analytics.make_period(start=args["start"], end=args["end"], interval=args["interval"],
                                 tz=tz, today=clock.today(tz), statuses=args["statuses"])
