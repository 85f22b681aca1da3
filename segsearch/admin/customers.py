"""Admin: a segment's members, a customer's page, the CSV download, overlap of segments.

Every read goes through the service layer the API uses (segments.roster, the export, the
explain and overlap services, set_manual); this module reads forms and renders pages.
"""
from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from segsearch.admin import blp
from segsearch.admin.views import writer
from segsearch.api.customers import CustomerListArgs, csv_download
from segsearch.api.segments import explain_service, segment_service
from segsearch.errors import Invalid, ServiceError
from segsearch.extensions import services
from segsearch.segments import roster
from segsearch.segments.overlap import overlap
from segsearch.segments.store import SegmentStore
from segsearch.segments.user_groups import set_manual

MEMBERS_PAGE = 50
HISTORY_SIZE = 50
MAX_OVERLAP = 20
GROUP_MAX = 128


def _members_args(code: str) -> tuple[dict, str | None]:
    """The list arguments for the members page; a bad cursor or search is reported, not a 500."""
    raw = {k: request.args.get(k, "").strip() for k in ("q", "cursor")}
    try:
        args = CustomerListArgs().load({**{k: v for k, v in raw.items() if v},
                                        "segment": code, "page_size": MEMBERS_PAGE})
        return args, None
    except ValidationError as err:
        fallback = CustomerListArgs().load({"segment": code, "page_size": MEMBERS_PAGE})
        return fallback, "Ignored an invalid search or page link: " + str(err.messages)


@blp.route("/segments/<string:code>/members", methods=["GET"])
def members(code: str) -> ResponseReturnValue:
    """A segment's members: search, cursor paging, CSV download, a link to each customer."""
    seg = segment_service().get(code)
    args, error = _members_args(code)
    svc = services()
    page = roster.list_customers(svc.es, svc.indices, args)
    q = request.args.get("q", "").strip()
    keep: dict[str, Any] = {"q": q} if q and not error else {}
    next_url = url_for("admin.members", code=code, cursor=page["next_cursor"], **keep) \
        if page["next_cursor"] else None
    first_url = url_for("admin.members", code=code, **keep) if request.args.get("cursor") else None
    return render_template("admin/members.html", seg=seg, page=page, q=q, error=error,
                           next_url=next_url, first_url=first_url)


@blp.route("/segments/<string:code>/export.csv", methods=["GET"])
def members_csv(code: str) -> Response:
    """The API's streamed CSV (same columns and formula-injection guard), for the session."""
    return csv_download(code)


def _granted() -> dict[str, Any]:
    svc = services()
    return {s["code"]: {"group": s.get("user_group"), "name": s.get("name")}
            for s in SegmentStore(svc.es, svc.indices).scan()}


@blp.route("/customers/<string:customer_id>", methods=["GET"])
def customer(customer_id: str) -> ResponseReturnValue:
    """Profile, aggregates, orders, segments and user groups with their source, history,
    and "why (not) in segment ...?" from the explain service."""
    svc = services()
    doc = roster.customer_out(svc.feed.get_customer(customer_id))
    segments = _granted()
    groups = roster.group_sources(doc, {c: s["group"] for c, s in segments.items()})
    history = roster.events(svc.es, svc.indices, size=HISTORY_SIZE, customer_id=customer_id)
    asked = request.args.get("explain", "").strip()
    explained, explain_error = None, None
    if asked:
        try:
            explained = explain_service().explain(customer_id, code=asked)
        except ServiceError as err:
            explain_error = err.message
    return render_template("admin/customer.html", c=doc, groups=groups, history=history,
                           segments=segments, asked=asked, explained=explained,
                           explain_error=explain_error)


@blp.route("/customers/<string:customer_id>/user-groups", methods=["POST"])
@writer
def customer_group_add(customer_id: str) -> ResponseReturnValue:
    group = request.form.get("group", "").strip()
    if not group or len(group) > GROUP_MAX or not group.isprintable():
        flash(f"A user group is 1 to {GROUP_MAX} printable characters.", "error")
    else:
        set_manual(services().feed, customer_id, group, True, "wait_for")
        flash(f"User group “{group}” assigned by hand.", "success")
    return redirect(url_for("admin.customer", customer_id=customer_id), 303)


@blp.route("/customers/<string:customer_id>/user-groups/<string:group>/remove", methods=["POST"])
@writer
def customer_group_remove(customer_id: str, group: str) -> ResponseReturnValue:
    doc = set_manual(services().feed, customer_id, group, False, "wait_for")
    still = group in (doc.get("segment_user_groups") or [])
    flash(f"Hand-assigned “{group}” removed" + (" — a segment still grants it." if still else "."),
          "success")
    return redirect(url_for("admin.customer", customer_id=customer_id), 303)


@blp.route("/overlap", methods=["GET"])
def overlap_page() -> ResponseReturnValue:
    """How a few chosen segments overlap: counts, every pair, the union (stored membership)."""
    svc = services()
    chosen = list(dict.fromkeys(c for c in request.args.getlist("codes") if c))
    all_segments = sorted(_granted().items(), key=lambda kv: (kv[1]["name"] or kv[0]).lower())
    result, error = None, None
    if chosen:
        try:
            result = overlap(svc.es, svc.indices.customers, svc.indices.segments, chosen[:MAX_OVERLAP])
        except (Invalid, ServiceError) as err:
            error = err.message
    matrix = None
    if result:
        pairs = {(p["a"], p["b"]): p["count"] for p in result["pairs"]}
        matrix = [[result["counts"][a] if a == b else pairs.get((a, b), pairs.get((b, a)))
                   for b in chosen] for a in chosen]
    return render_template("admin/overlap.html", all_segments=all_segments, chosen=chosen,
                           result=result, matrix=matrix, error=error)
