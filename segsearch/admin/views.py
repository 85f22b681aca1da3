"""Admin pages: login, segment list, create/edit with the rule editor, preview, formation.

Views call the service layer the API uses (SegmentService through `segment_service()`,
`preview`, the field catalogue, formation requests and job status in segments.jobs, the
dynamics points in segments.dynamics); they build no Elasticsearch query and touch no
RQ job themselves.
"""
from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import wraps
from typing import Any, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from elasticsearch import ApiError, TransportError
from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException, NotFound

from segsearch import clock
from segsearch.admin import blp, text_views  # noqa: F401  (text_views: the text mode's routes)
from segsearch.admin.wording import fmt_int, noun, place, plural, worded
from segsearch.api.errors import http_error
from segsearch.api.rules import current_fields
from segsearch.api.segments import segment_service
from segsearch.auth.roles import allowed
from segsearch.auth.tokens import Principal
from segsearch.errors import Invalid, ServiceError, flatten
from segsearch.extensions import services
from segsearch.limits import MAX_MEMBERS
from segsearch.rules.fields import BLOCKS
from segsearch.rules.templates import TEMPLATES
from segsearch.segments import values as values_service
from segsearch.segments.deps import SegmentDeps
from segsearch.segments.dynamics import dynamics_by_segment
from segsearch.segments.jobs import job_state, request_formation
from segsearch.segments.preview import checked_rule, matches_everyone, preview, preview_members
from segsearch.segments.schemas import SegmentCreate, SegmentPatch
from segsearch.segments.service import SegmentService

USER_KEY = "admin_user"
CSRF_KEY = "admin_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Reachable without a login (the login page itself, and its stylesheet).
PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.static"})
# Answer in JSON (fetch() from admin.js), not with an HTML page.
JSON_ENDPOINTS = frozenset({"admin.preview_json", "admin.job_json", "admin.status_json",
                            "admin.rule_text_format", "admin.rule_text_parse",
                            "admin.field_values_json"})
CHART_POINTS = 60
SAMPLE_SIZE = 10
FIX_FIELDS = "Please correct the highlighted fields."
# Derived via the API's own schema context: the catalogue is read per request.
_context = {"fields": current_fields}
BLOCK_LABELS = {"customer": "Customer", "orders": "Orders", "products": "Products",
                "communications": "Communications", "segments": "Segments"}


# -- login, CSRF and permissions -------------------------------------------------------

def current_user() -> Principal | None:
    """The logged-in principal from the session, or None."""
    raw = session.get(USER_KEY)
    if not isinstance(raw, dict) or not raw.get("role"):
        return None
    # The session outlives the login: a token revoked since then ends it on its next request.
    token_id = raw.get("token_id")
    if token_id and not services().tokens.exists(token_id):
        session.pop(USER_KEY, None)
        return None
    return Principal(raw.get("name", ""), raw["role"], token_id)


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = session.get(CSRF_KEY)
    if not token:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_ok() -> bool:
    """True when the POST carries this session's token (form field or header)."""
    expected = session.get(CSRF_KEY) or ""
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


# bell.js's endpoints (admin/bell.py): their errors are JSON too.
BELL_ENDPOINTS = frozenset({"admin.notifications_json", "admin.notification_read"})


def wants_json() -> bool:
    """The request comes from admin.js or bell.js (fetch), so errors answer in JSON."""
    return request.endpoint in JSON_ENDPOINTS or request.endpoint in BELL_ENDPOINTS


@blp.before_request
def _guard() -> ResponseReturnValue | None:
    """Every admin request: a login (except the login page), read permission, CSRF on POST."""
    if request.endpoint not in PUBLIC_ENDPOINTS:
        user = current_user()
        if user is None:
            if wants_json():
                return _json_error(401, "Your session has expired: log in again.")
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        if not allowed(user.role, "segments:read"):
            abort(403, f"The {user.role} role has no access to the admin.")
        g.admin_user = user
    if request.method == "POST" and not csrf_ok():
        abort(400, "The form is out of date (missing or invalid CSRF token): reload the page "
                   "and try again.")
    return None


def writer(view: Callable) -> Callable:
    """Decorate a view that changes segments: the role must grant segments:write."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not can_write():
            abort(403, f"The {g.admin_user.role} role may only look at segments.")
        return view(*args, **kwargs)
    return wrapper


def can_write() -> bool:
    """Whether the logged-in user may create, edit, delete and recalculate segments."""
    user = getattr(g, "admin_user", None)
    return user is not None and allowed(user.role, "segments:write")


@blp.after_request
def _headers(response: Response) -> Response:
    # Pages hold segment data and the CSRF token: not cached, not framed, no inline script.
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    return response


@blp.context_processor
def _template_helpers() -> dict:
    return {"csrf_token": csrf_token, "user": current_user(), "can_write": can_write(),
            "fmt_dt": fmt_dt, "fmt_int": fmt_int, "segment_url": segment_url,
            "block_labels": BLOCK_LABELS, "plural": plural, "noun": noun}


# -- errors: HTML pages, JSON for admin.js -----------------------------------------------

def _json_error(status: int, message: str, errors: Mapping | None = None) -> Response:
    response = jsonify({"code": status, "message": message, "errors": errors or {}})
    response.status_code = status
    return response


def _error_page(status: int, title: str, message: str) -> ResponseReturnValue:
    if wants_json():
        return _json_error(status, message)
    # The helpers are passed, not left to the context processor: an unmatched URL has no
    # blueprint, so the processor does not run for it.
    return render_template("admin/error.html", status=status, title=title, message=message,
                           **_template_helpers()), status


@blp.app_errorhandler(404)
@blp.app_errorhandler(405)
def _routing_error(err: HTTPException) -> ResponseReturnValue:
    """An unknown /admin URL gets the admin's page; the rest of the app keeps its JSON.

    Flask hands URLs that match no route to the app's handlers, never a blueprint's, so
    the admin's own 404 page needs an app-wide handler that looks at the path.
    """
    if not request.path.startswith(f"{blp.url_prefix}/"):
        return http_error(err)
    if isinstance(err, NotFound) and request.endpoint is None:
        return _error_page(404, "Page not found", f"There is no admin page at {request.path}.")
    return _http_error(err)


@blp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> ResponseReturnValue:
    return _error_page(err.code or 500, err.name, err.description or "")


@blp.errorhandler(ServiceError)
def _service_error(err: ServiceError) -> ResponseReturnValue:
    return _error_page(err.status, "Not found" if err.status == 404 else "Error", err.message)


@blp.errorhandler(TransportError)
@blp.errorhandler(ApiError)
@blp.errorhandler(RedisError)
def _backend_error(err: Exception) -> ResponseReturnValue:
    # Logged with the API's errors; the page never shows backend details.
    current_app.logger.error("admin: backend error: %s", err)
    return _error_page(503, "Service unavailable",
                       "The search backend or the job queue is unavailable. Try again shortly.")


# -- formatting --------------------------------------------------------------------------

def _tz() -> ZoneInfo:
    return ZoneInfo(services().config["TIMEZONE"])


def fmt_dt(iso: str | None, empty: str = "—") -> str:
    """A stored UTC ISO instant as '12 Jun 2025, 10:00' in SEGSEARCH_TIMEZONE."""
    if not iso:
        return empty
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(_tz())
    return f"{local.day} {local:%b %Y, %H:%M}"


def segment_url(code: str, **params: Any) -> str:
    """The segment's page; the code "new" would meet the create form, so it gets /edit."""
    endpoint = "admin.segment_alt" if code == "new" else "admin.segment"
    return url_for(endpoint, code=code, **params)


def safe_next(target: str | None) -> str:
    """Only a local /admin path may be a redirect target after login (no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/admin") \
                and not target.startswith("//"):
            return target
    return url_for("admin.segments")


# -- charts ----------------------------------------------------------------------------

def chart(points: list[dict], width: int, height: int, pad: int = 3) -> dict | None:
    """SVG geometry of a count series: polyline points, area path and dots with titles."""
    if not points:
        return None
    counts = [int(p.get("count") or 0) for p in points]
    low, high = min(counts), max(counts)
    span = (high - low) or 1
    step = (width - 2 * pad) / max(len(counts) - 1, 1)

    def y(count: int) -> float:
        # Flat series sit in the middle; otherwise the range fills the height.
        if high == low:
            return height / 2
        return round(height - pad - (count - low) / span * (height - 2 * pad), 1)

    xy = [(round(pad + i * step, 1), y(c)) for i, c in enumerate(counts)]
    if len(xy) == 1:  # one formation: a flat line across, its dot at the (latest) end
        xy = [(pad, xy[0][1]), (width - pad, xy[0][1])]
    line = " ".join(f"{x},{yy}" for x, yy in xy)
    area = f"M{xy[0][0]},{height} L" + " L".join(f"{x},{yy}" for x, yy in xy) + \
        f" L{xy[-1][0]},{height} Z"
    xs = [x for x, _ in xy][-len(counts):]
    dots = [{"x": x, "y": y(c),
             "title": f"{fmt_dt(p.get('at'))}: {plural(c, 'customer')} "
                      f"(+{p.get('entered') or 0} / −{p.get('left') or 0})"}
            for x, c, p in zip(xs, counts, points)]
    return {"line": line, "area": area, "dots": dots, "width": width, "height": height,
            "low": low, "high": high, "last": counts[-1], "end_x": xy[-1][0], "end_y": xy[-1][1]}


# -- login / logout ----------------------------------------------------------------------

@blp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The token form; a valid token with a role other than ingest opens a session."""
    if request.method == "GET":
        return render_template("admin/login.html", next=request.args.get("next", ""))
    token = (request.form.get("token") or "").strip()
    nxt = request.form.get("next", "")
    svc = services()
    svc.ensure_indices()
    principal = svc.tokens.authenticate(token) if token else None
    if principal is None:
        return render_template("admin/login.html", next=nxt,
                               error="This token is not valid."), 401
    if not allowed(principal.role, "segments:read"):
        return render_template("admin/login.html", next=nxt,
                               error=f"The {principal.role} role has no access to the admin."), 403
    # A fresh session (and CSRF token) at login: nothing from before the login survives.
    session.clear()
    session.permanent = True
    session[USER_KEY] = {"name": principal.name, "role": principal.role,
                         "token_id": principal.token_id}
    csrf_token()
    return redirect(safe_next(nxt), 303)


@blp.route("/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    """POST (with the CSRF token) ends the session; GET asks for that POST."""
    if request.method == "GET":
        return render_template("admin/logout.html")
    session.clear()
    flash("You have been logged out.", "info")
    return redirect(url_for("admin.login"), 303)


# -- create / edit: form <-> segment fields ------------------------------------------------

def blank_values() -> dict:
    """The create form's starting values."""
    return {"code": "", "name": "", "description": "", "type": "dynamic", "active": True,
            "available_in_analytics": False, "user_group": "", "store": "", "starts_at": "",
            "expires_at": "", "rule_json": json.dumps({"match": "all", "groups": []}),
            "members_text": "", "static_source": "rule", "confirmed_all": ""}


def values_from_segment(seg: Mapping[str, Any]) -> dict:
    """A stored segment as form values."""
    members = seg.get("members") or {}
    lines = [*members.get("emails", []), *members.get("customer_ids", [])]
    return {"code": seg["code"], "name": seg.get("name", ""),
            "description": seg.get("description") or "", "type": seg.get("type", "dynamic"),
            "active": bool(seg.get("active", True)),
            "available_in_analytics": bool(seg.get("available_in_analytics")),
            "user_group": seg.get("user_group") or "", "store": seg.get("store") or "",
            "starts_at": local_input(seg.get("starts_at")),
            "expires_at": local_input(seg.get("expires_at")),
            "rule_json": json.dumps(seg.get("rule") or {"match": "all", "groups": []}),
            "members_text": "\n".join(lines),
            "static_source": "list" if seg.get("members") else "rule"}


def values_from_form(form: Mapping[str, str], code: str | None = None) -> dict:
    """What the user typed, kept as typed (a failed save shows it again)."""
    values: dict[str, Any] = {k: form.get(k, "") for k in ("code", "name", "description", "type", "user_group",
                                           "store", "starts_at", "expires_at", "members_text",
                                           "static_source")}
    values["rule_json"] = form.get("rule", "")
    # The text mode (rule_text.js) sends the rule as text; it is parsed by the schema.
    values["rule_mode"] = "text" if form.get("rule_mode") == "text" else "blocks"
    values["rule_text"] = form.get("rule_text", "")
    values["active"] = form.get("active") == "on"
    values["available_in_analytics"] = form.get("available_in_analytics") == "on"
    # Sent only by the "save for all N customers" button of the confirm step (a number).
    values["confirmed_all"] = form.get("confirmed_all", "")
    if code is not None:
        values["code"] = code
    return values


def local_input(iso: str | None) -> str:
    """A stored UTC instant as a datetime-local value in SEGSEARCH_TIMEZONE."""
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(_tz()).strftime("%Y-%m-%dT%H:%M")


def instant(local: str) -> str | None:
    """A datetime-local value (SEGSEARCH_TIMEZONE) as ISO with offset; junk passes through
    so the schema names it."""
    text = local.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_tz())
    return moment.isoformat()


def members_from_text(text: str) -> dict:
    """One e-mail or customer id per line (or separated by commas/semicolons)."""
    items = [i.strip() for line in text.splitlines() for i in line.replace(";", ",").split(",")]
    items = [i for i in items if i]
    return {"emails": [i for i in items if "@" in i],
            "customer_ids": [i for i in items if "@" not in i]}


def segment_input(values: Mapping[str, Any], creating: bool, static: bool) -> tuple[dict, dict]:
    """Form values -> the API's segment body, and errors found before the schema (JSON)."""
    data: dict[str, Any] = {
        "name": values["name"], "description": values["description"],
        "active": values["active"], "available_in_analytics": values["available_in_analytics"],
        "user_group": values["user_group"].strip() or None,
        "starts_at": instant(values["starts_at"]), "expires_at": instant(values["expires_at"]),
    }
    errors: dict[str, list[str]] = {}
    if creating:
        data.update(code=values["code"].strip(), type=values["type"] or "dynamic")
    locked = static and not creating  # a static segment's rule, members and store are locked
    if locked:
        return data, errors
    data["store"] = values["store"].strip() or None
    if static and creating and values["static_source"] == "list":
        data["members"] = members_from_text(values["members_text"])
        return data, errors
    if values.get("rule_mode") == "text":
        data["rule_text"] = values["rule_text"]
        return data, errors
    try:
        data["rule"] = json.loads(values["rule_json"] or "null")
    except ValueError:
        errors["rule"] = ["The rule is not valid JSON."]
    return data, errors


def schema_errors(err: ValidationError) -> dict[str, list[str]]:
    """Marshmallow messages as dotted paths (rule.groups.1.conditions.0.to)."""
    return flatten(err.messages)


def tracked_service() -> tuple[SegmentService, list[str]]:
    """The API's SegmentService, noting each formation its hook queues (to show progress)."""
    service = segment_service()
    queued: list[str] = []
    hook = service.on_change

    def on_change(code: str, reason: str) -> None:
        hook(code, reason)
        queued.append(reason)

    service.on_change = on_change
    return service, queued


class EveryoneMatches(Exception):
    """The rule matches every customer: the save waits for an explicit confirmation."""

    def __init__(self, count: int):
        super().__init__(count)
        self.count = count


# A change of one of these can hand the segment (and its user group) to every customer.
REACH_FIELDS = ("rule", "store", "user_group", "active")


def confirm_everyone(values: Mapping[str, Any], loaded: Mapping[str, Any],
                     stored: Mapping | None) -> None:
    """Raise EveryoneMatches when the saved rule would match every customer in its store and
    the form was not sent by the confirm step's button for that same number of customers."""
    rule = loaded.get("rule", (stored or {}).get("rule"))
    if not isinstance(rule, dict) or not loaded.get("active", (stored or {}).get("active", True)):
        return  # an imported list, or an inactive segment: nobody is handed anything now
    if stored is not None and stored.get("type") == "static":
        return  # formed once at creation: an edit reaches nobody new
    if stored is not None and all(loaded.get(k, stored.get(k)) == stored.get(k) for k in REACH_FIELDS):
        return  # an edit that does not change who is reached (renaming, a description)
    svc = services()
    tz = svc.config["TIMEZONE"]
    store = loaded.get("store", (stored or {}).get("store"))
    count = matches_everyone(svc.es, svc.indices.customers, current_fields(), rule,
                             today=clock.today(tz), timezone=tz, store=store)
    if count is not None and str(values.get("confirmed_all", "")).strip() != str(count):
        raise EveryoneMatches(count)


@dataclass
class Saved:
    """What save_segment did: the segment, or the errors and the HTTP status to answer
    with (the service's own: 409 for a taken code or a lost race, 422 for bad input)."""
    seg: dict | None
    errors: dict
    message: str | None
    queued: bool
    status: int = 200


def save_segment(values: Mapping[str, Any], code: str | None, stored: Mapping | None) -> Saved:
    """Validate and create (code None) or patch.

    Raises EveryoneMatches when the rule matches everyone and that was not confirmed.
    """
    creating = code is None
    static = (values["type"] if creating else cast(Mapping, stored)["type"]) == "static"
    data, errors = segment_input(values, creating, static)
    if errors:
        return Saved(None, errors, FIX_FIELDS, False, 422)
    schema = SegmentCreate if creating else SegmentPatch
    try:
        loaded = schema(context=_context).load(data)
    except ValidationError as err:
        return Saved(None, schema_errors(err), FIX_FIELDS, False, 422)
    confirm_everyone(values, loaded, stored)
    service, queued = tracked_service()
    try:
        if code is None:  # creating
            seg = service.create(loaded, actor=g.admin_user.name, refresh="wait_for")
        else:
            seg = service.patch(code, loaded, refresh="wait_for")
    except ServiceError as err:
        if err.status == 404:
            raise
        return Saved(None, dict(err.errors), err.message, False, err.status)
    return Saved(seg, {}, None, bool(queued))


def rule_product_ids(rule: Any) -> list[str]:
    """Product ids a rule names (its chips show the products' names)."""
    ids: list[str] = []
    for group in (rule.get("groups") or []) if isinstance(rule, dict) else []:
        for cond in (group.get("conditions") or []) if isinstance(group, dict) else []:
            if not isinstance(cond, dict):
                continue
            if cond.get("field") == "products":
                ids += [v for k in ("include", "exclude") for v in cond.get(k) or []]
            where = cond.get("where")
            if isinstance(where, dict):
                ids += list(where.get("product_ids") or [])
    return [i for i in ids if isinstance(i, str)]


def editor_context(rule: Any = None) -> dict:
    """What the rule editor needs: the field catalogue, templates, the named product-group
    tree, the names of the products the rule names, segment codes."""
    fields = [f.to_json() for f in current_fields().values()]
    svc = services()
    try:
        groups = values_service.group_tree(svc.es, svc.indices)
        products = values_service.product_names(svc.es, svc.indices, rule_product_ids(rule))
        codes = sorted(SegmentDeps(svc.es, svc.indices.segments).graph())  # segments block
    except (ApiError, TransportError):
        groups, products, codes = [], {}, []  # suggestions only: the editor works without them
    return {"catalogue": fields, "templates": TEMPLATES, "blocks": list(BLOCKS),
            # Ids, as the text mode completes them; the block editor shows them by `labels`.
            "suggestions": {"product_groups": [g["value"] for g in groups], "segments": codes},
            "labels": {"products": products,
                       "product_groups": {g["value"]: g["label"] for g in groups}}}


def render_form(values: dict, *, seg: dict | None = None, errors: dict | None = None,
                message: str | None = None, status: int = 200,
                confirm_all: int | None = None) -> ResponseReturnValue:
    """The create/edit page (with the status panel when the segment exists).

    `confirm_all`: the rule matches all these customers; the page asks before saving.
    """
    try:
        rule = json.loads(values.get("rule_json") or "null")
    except ValueError:
        rule = None
    # The marketer reads every message in plain words; the paths stay the keys.
    errors = worded(errors or {})
    fieldmap = current_fields()
    rule_errors = {k: v for k, v in errors.items() if k == "rule" or k.startswith("rule.")}
    # Errors of form fields show under their input; the rest (and the rule's) in a summary.
    other = {k: v for k, v in errors.items()
             if k not in rule_errors and k.split(".")[0] not in FORM_FIELDS}
    members = {k: v for k, v in errors.items() if k.split(".")[0] == "members"}
    places = {k: place(k, rule, fieldmap) for k in errors}
    listed = members_from_text(values.get("members_text") or "")
    for path in members:  # members.customer_ids.3 -> the entry itself, as typed
        parts = path.split(".")
        if len(parts) == 3 and parts[2].isdigit() and int(parts[2]) < len(listed.get(parts[1], [])):
            places[path] = f"“{listed[parts[1]][int(parts[2])]}”"
    context: dict[str, Any] = {"values": values, "seg": seg, "errors": errors,
               "rule_errors": rule_errors, "places": places,
               "member_errors": members, "confirm_all": confirm_all,
               "other_errors": other, "message": message, "editor": editor_context(rule),
               "job_id": request.args.get("job", ""), "since": request.args.get("since", ""),
               "chart": None, "tz": str(_tz())}
    if seg is not None:
        svc = services()
        points = dynamics_by_segment(svc.es, svc.indices.segment_events, [seg["code"]],
                                     CHART_POINTS).get(seg["code"], [])
        context["chart"] = chart(points, 640, 120, pad=8)
        context["points"] = points
    return render_template("admin/segment.html", **context), status


FORM_FIELDS = frozenset({"code", "name", "description", "type", "active", "available_in_analytics",
                         "user_group", "store", "starts_at", "expires_at", "members"})


@blp.route("/segments/new", methods=["GET", "POST"])
@writer
def segment_new() -> ResponseReturnValue:
    """Create a segment; on success its page shows the formation."""
    if request.method == "GET":
        return render_form(blank_values())
    values = values_from_form(request.form)
    try:
        saved = save_segment(values, None, None)
    except EveryoneMatches as ask:
        return render_form(values, confirm_all=ask.count, status=409)
    seg, queued = saved.seg, saved.queued
    if seg is None:
        return render_form(values, errors=saved.errors, message=saved.message, status=saved.status)
    flash(f"Segment “{seg['name']}” created" + (
        "; it is being formed in the background." if seg.get("active", True)
        else ". It is inactive: nobody is added to it until you activate it."), "success")
    return redirect(after_save_url(seg, queued), 303)


def after_save_note(seg: Mapping[str, Any], queued: bool) -> str:
    """What happens to the members after an edit, as the engine really does it: inactive
    segments and formed static ones are skipped, so their members stay as they are."""
    if not seg.get("active", True):
        return (f" The segment is inactive: it is not recalculated, and its "
                f"{fmt_int(seg.get('customers_count') or 0)} customers stay in it"
                + (f" (and keep the user group {seg['user_group']})" if seg.get("user_group") else "")
                + " until you activate or delete it.")
    if seg["type"] == "static" and seg.get("status") == "formed":
        return " A static segment is formed once: its members stay as they are."
    if queued:
        return " The segment is being re-formed."
    return ""


def after_save_url(seg: Mapping[str, Any], queued: bool) -> str:
    """The segment page; after a queued formation it waits for one newer than the save.

    The engine skips inactive segments and formed static ones: nothing to wait for then.
    """
    skipped = not seg.get("active", True) or (seg["type"] == "static"
                                              and seg.get("status") == "formed")
    if queued and not skipped:
        return segment_url(seg["code"], since=seg["updated_at"])
    return segment_url(seg["code"])


@blp.route("/segments/<string:code>", methods=["GET", "POST"])
@blp.route("/segments/<string:code>/edit", methods=["GET", "POST"], endpoint="segment_alt")
def segment(code: str) -> ResponseReturnValue:
    """A segment: its formation state, dynamics and the edit form (read-only for viewers)."""
    stored = segment_service().get(code)
    if request.method == "GET":
        return render_form(values_from_segment(stored), seg=stored)
    if not can_write():
        abort(403, f"The {g.admin_user.role} role may only look at segments.")
    values = values_from_form(request.form, code=code)
    values["type"] = stored["type"]
    try:
        saved = save_segment(values, code, stored)
    except EveryoneMatches as ask:
        return render_form(values, seg=stored, confirm_all=ask.count, status=409)
    seg, queued = saved.seg, saved.queued
    if seg is None:
        return render_form(values, seg=stored, errors=saved.errors, message=saved.message,
                           status=saved.status)
    flash("Changes saved." + after_save_note(seg, queued), "success")
    return redirect(after_save_url(seg, queued), 303)


@blp.route("/segments/<string:code>/delete", methods=["POST"])
@writer
def segment_delete(code: str) -> ResponseReturnValue:
    """Delete; its members leave and lose its user group in the background."""
    seg = segment_service().delete(code, refresh="wait_for")
    flash(f"Segment “{seg['name']}” deleted: its customers leave it in the background.", "info")
    return redirect(url_for("admin.segments"), 303)


@blp.route("/segments/<string:code>/recalculate", methods=["POST"])
@writer
def segment_recalculate(code: str) -> ResponseReturnValue:
    """Queue a formation now, like POST /api/v1/segments/{code}/recalculate."""
    segment_service().get(code)  # 404 for an unknown segment
    svc = services()
    job_id = request_formation(svc, code, "manual")
    flash("Recalculation queued.", "info")
    return redirect(segment_url(code, job=job_id), 303)


# -- JSON for admin.js ---------------------------------------------------------------------

@blp.route("/preview", methods=["POST"])
def preview_json() -> ResponseReturnValue:
    """Count, per-group counts and a sample of the editor's rule, without saving."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return _json_error(422, "The body must be a JSON object.")
    store = payload.get("store") or None
    svc = services()
    if "members_text" in payload:
        # A static segment from an imported list: the list is what gets formed, not a rule.
        text = payload["members_text"]
        members = members_from_text(text) if isinstance(text, str) else {}
        if not isinstance(text, str) or any(len(v) > MAX_MEMBERS for v in members.values()):
            return _json_error(422, "The list is not valid.", {"members": [
                f"At most {MAX_MEMBERS} e-mails and {MAX_MEMBERS} customer ids, one per line."]})
        return jsonify(preview_members(svc.es, svc.indices.customers, members,
                                       store=store if isinstance(store, str) else None,
                                       sample_size=SAMPLE_SIZE))
    fieldmap = current_fields()
    try:
        rule = checked_rule(payload.get("rule"), fieldmap)
    except Invalid as err:
        return _json_error(422, err.message, worded(err.errors))
    tz = svc.config["TIMEZONE"]
    result = preview(svc.es, svc.indices.customers, fieldmap, rule, today=clock.today(tz),
                     timezone=tz, store=store if isinstance(store, str) else None,
                     sample_size=SAMPLE_SIZE)
    return jsonify(result)


@blp.route("/jobs/<string:job_id>", methods=["GET"])
def job_json(job_id: str) -> ResponseReturnValue:
    """A formation job's status and progress (0..1), polled by the progress bar."""
    return jsonify(job_state(services().redis, job_id))


@blp.route("/segments/<string:code>/status", methods=["GET"])
def status_json(code: str) -> ResponseReturnValue:
    """The segment's formation state, polled after a save until it is formed."""
    seg = segment_service().get(code)
    return jsonify({"status": seg.get("status"), "customers_count": seg.get("customers_count"),
                    "formed_since": formed_since(seg, request.args.get("since")),
                    "customers_count_text": fmt_int(seg.get("customers_count")),
                    "last_formed_at_text": fmt_dt(seg.get("last_formed_at")),
                    "next_run_at_text": fmt_dt(seg.get("next_run_at")),
                    "last_error": seg.get("last_error")})


def formed_since(seg: Mapping[str, Any], since: str | None) -> bool:
    """Whether the segment was formed (or failed) at or after the instant `since`."""
    if seg.get("status") == "failed" or (seg.get("status") == "formed" and not since):
        return True
    if seg.get("status") != "formed":
        return False
    formed = seg.get("last_formed_at")
    if not formed or since is None:  # since is set here: the checks above returned
        return False
    try:
        return _parse(formed) >= _parse(since)
    except ValueError:
        return True  # a malformed `since` must not keep the page polling forever


def _parse(iso: str) -> datetime:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
