"""The one layer the API (and an admin UI) calls for stored segments.

It turns validated input into documents, enforces what needs the stored segment
(immutable code and type, the lock of a static segment, the merged date window) and
tells the membership engine what changed through one hook:

    on_change(code, reason)   reason: "created" | "edit" | "delete"

called after the write succeeded: "created" after a create, "edit" after a PATCH that
changed something membership depends on (MEMBERSHIP_FIELDS), "delete" after a delete
(the document is already gone; the engine empties the segment in the background).

A second hook, `before_change(code, reason)`, runs before the write with the same
reasons (for a PATCH: when it touches a MEMBERSHIP_FIELDS key). The engine records the
request there, durably, so a write is never left without its formation; if it cannot
(Redis down) it raises and nothing is written. A request recorded for a write that then
fails costs one formation that changes nothing.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import ValidationError

from segsearch.clock import now_iso
from segsearch.errors import Conflict, Invalid, flatten
from segsearch.segments.members import not_found
from segsearch.segments.schemas import shape_errors, window_error
from segsearch.segments.store import SegmentStore, new_document

OnChange = Callable[[str, str], None]
# check_rule(code, rule): raises Invalid (422) for a rule naming an unknown segment or
# closing a dependency cycle (CONTRACT 6.2); SegmentDeps.check in production.
RuleCheck = Callable[[str, Mapping[str, Any]], None]
# A PATCH of any of these re-forms the segment (or re-grants its user group).
MEMBERSHIP_FIELDS = frozenset({"rule", "active", "store", "starts_at", "expires_at", "user_group"})
# A static segment is formed once: what decides its members cannot change afterwards.
LOCKED_STATIC_FIELDS = ("rule", "members", "store")
IMMUTABLE_FIELDS = ("code", "type")


def _no_hook(code: str, reason: str) -> None:
    """The default hook: nothing listens."""


def _no_check(code: str, rule: Mapping[str, Any]) -> None:
    """The default rule check: no segment conditions are checked."""


class SegmentService:
    """Create, read, list, edit and delete segments; notify `on_change` of what changed."""

    def __init__(self, store: SegmentStore, on_change: OnChange = _no_hook, tz: str = "UTC",
                 customers_index: str | None = None, before_change: OnChange = _no_hook,
                 check_rule: RuleCheck = _no_check):
        self.store = store
        self.check_rule = check_rule
        self.on_change = on_change
        self.before_change = before_change
        self.tz = tz
        self.customers_index = customers_index  # to count an imported list's unknown members

    def create(self, data: Mapping[str, Any], *, actor: str | None,
               refresh: str | None = None) -> dict:
        """Store a validated SegmentCreate; status pending, formation requested ("created")."""
        if data.get("rule") is not None:
            self.check_rule(data["code"], data["rule"])
        doc = new_document(data, actor)
        if doc.get("members") and self.customers_index:
            doc["members_not_found"] = not_found(self.store.es, self.customers_index, doc["members"])
        self.before_change(doc["code"], "created")
        doc = self.store.create(doc, refresh)
        self.on_change(doc["code"], "created")
        return doc

    def get(self, code: str) -> dict:
        """The segment, or NotFound."""
        return self.store.get(code)

    def list(self, args: Mapping[str, Any]) -> dict:
        """A page of segments for validated SegmentListArgs: {"items", "next_cursor", "total"}."""
        filters = {k: v for k, v in args.items() if k not in ("sort", "page_size", "cursor")}
        cursor = args.get("cursor")
        return self.store.list(filters, tz=self.tz, sort=args["sort"], page_size=args["page_size"],
                               after=cursor["after"] if cursor else None)

    def patch(self, code: str, changes: Mapping[str, Any], refresh: str | None = None) -> dict:
        """Apply a validated SegmentPatch; 422 for an immutable field, 409 for a locked one."""
        changed: set[str] = set()
        if changes.get("rule") is not None:
            self.check_rule(code, changes["rule"])

        def mutate(current: dict) -> dict | None:
            updates = _updates(current, changes)
            changed.clear()
            changed.update(updates)
            if not updates:
                return None
            return {**current, **updates, "updated_at": now_iso()}

        if set(changes) & MEMBERSHIP_FIELDS:
            self.before_change(code, "edit")
        doc = self.store.patch(code, mutate, refresh)
        if changed & MEMBERSHIP_FIELDS:
            self.on_change(code, "edit")
        return doc

    def delete(self, code: str, refresh: str | None = None) -> dict:
        """Delete the segment and return it; its members leave in the background ("delete")."""
        self.before_change(code, "delete")
        doc = self.store.delete(code, refresh)
        self.on_change(code, "delete")
        return doc


def _updates(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict:
    """The fields that really change, after every check against the stored segment."""
    _check_immutable(current, changes)
    updates = {k: v for k, v in changes.items()
               if k not in IMMUTABLE_FIELDS and current.get(k) != v}
    if current["type"] == "static":
        locked = [k for k in LOCKED_STATIC_FIELDS if k in updates]
        if locked:
            raise Conflict("A static segment is locked: it is formed once.",
                           {k: ["Locked: a static segment cannot change this."] for k in locked})
    _check_merged({**current, **updates})
    return updates


def _check_immutable(current: Mapping[str, Any], changes: Mapping[str, Any]) -> None:
    """code and type may be sent back unchanged, never changed (422)."""
    errors = {k: ["Immutable."] for k in IMMUTABLE_FIELDS
              if k in changes and changes[k] != current.get(k)}
    if errors:
        raise Invalid("Invalid fields: " + ", ".join(sorted(errors)), errors)


def _check_merged(doc: Mapping[str, Any]) -> None:
    """The edited segment as a whole: a valid rule/members shape and date window (422)."""
    errors = shape_errors(doc["type"], doc.get("rule"), doc.get("members"))
    try:
        window_error(doc.get("starts_at"), doc.get("expires_at"))
    except ValidationError as err:
        errors.update(flatten(err.normalized_messages()))
    if errors:
        raise Invalid("Invalid fields: " + ", ".join(sorted(errors)), errors)
