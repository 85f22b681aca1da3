"""Admin: the segment list page (filters, sortable columns, total, pages, sparklines).

The list is SegmentService.list, the very call behind GET /api/v1/segments, with the
API's own argument schema; the sparklines come from segments.dynamics. The pure parts
(filter errors in words, sort toggles, the pager) are in admin/listing.py.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from segsearch.admin import blp, listing
from segsearch.admin.views import chart
from segsearch.api.segments import segment_service
from segsearch.errors import flatten
from segsearch.extensions import services
from segsearch.segments.dynamics import dynamics_by_segment
from segsearch.segments.schemas import DEFAULT_SORT, STATUSES, Cursor, SegmentListArgs

PAGE_SIZE = 25
SPARK_POINTS = 20
# Pages a list link remembers for "previous" (the URL carries their cursors).
MAX_TRAIL = 200


def list_args(query: Mapping[str, str]) -> tuple[dict, dict, dict[str, list[str]]]:
    """The list's validated arguments, the raw ones as typed, and the errors by argument.

    A bad value is dropped (the page lists by the others) and named in `errors`; any
    error also drops the page link, which belongs to the list as it was.
    """
    raw = {k: query.get(k, "").strip() for k in (*listing.FILTERS, "sort", "cursor", "trail")}
    given = {k: v for k, v in raw.items() if v and k != "trail"}
    errors: dict[str, list[str]] = {}
    try:
        args = SegmentListArgs().load({**given, "page_size": PAGE_SIZE})
    except ValidationError as err:
        errors = flatten(err.messages)
        kept = {k: v for k, v in given.items() if k not in errors and k != "cursor"}
        args = SegmentListArgs().load({**kept, "page_size": PAGE_SIZE})
    trail = listing.split_trail(raw["trail"])
    if not args["cursor"] or not trail_ok(trail, args["sort"]):
        if args["cursor"]:
            errors["trail"] = ["Not a valid cursor."]
            args["cursor"] = None
        raw["cursor"], trail = "", []
    raw["trail"] = ".".join(trail)
    return args, raw, errors


def trail_ok(trail: list[str], sort: str) -> bool:
    """Whether every cursor of the earlier pages is one of ours for this sort."""
    if len(trail) > MAX_TRAIL:
        return False
    try:
        return all(Cursor().deserialize(part)["sort"] == sort for part in trail)
    except ValidationError:
        return False


def sort_links(filters: dict[str, Any], sort: str) -> dict[str, dict]:
    """Per sortable column: the URL a click on its header opens, and its aria-sort."""
    return {key: {"url": url_for("admin.segments", **filters, sort=listing.next_sort(sort, key)),
                  "state": listing.sort_state(sort, key)}
            for key in listing.SORTABLE}


@blp.route("/", methods=["GET"])
@blp.route("/segments", methods=["GET"])
def segments() -> ResponseReturnValue:
    """Segments with filters, sortable columns, a total, paging and dynamics sparklines."""
    args, raw, errors = list_args(request.args)
    page = segment_service().list(args)
    svc = services()
    codes = [s["code"] for s in page["items"]]
    dynamics = dynamics_by_segment(svc.es, svc.indices.segment_events, codes, SPARK_POINTS)
    sparks = {code: chart(points, 96, 24) for code, points in dynamics.items()}
    # Links keep the valid filters and the sort; a bad value is not carried along.
    kept: dict[str, Any] = {k: raw[k] for k in listing.FILTERS if raw[k] and k not in errors}
    sorted_by = {"sort": args["sort"]} if args["sort"] != DEFAULT_SORT else {}
    pages = listing.pager(page["total"], PAGE_SIZE, len(page["items"]), raw["cursor"] or None,
                          listing.split_trail(raw["trail"]), page["next_cursor"])
    links = {name: url_for("admin.segments", **kept, **sorted_by, **params)
             if params is not None else None
             for name, params in (("previous", pages["previous"]), ("next", pages["next"]))}
    return render_template("admin/segments.html", page=page, sparks=sparks, filters=raw,
                           errors=listing.filter_errors(errors), sort=args["sort"],
                           sorts=sort_links(kept, args["sort"]), pager=pages, links=links,
                           filtered=bool(kept), statuses=STATUSES), 422 if errors else 200
