"""User groups assigned by hand (CONTRACT section 3), next to those segments grant."""
from __future__ import annotations

from segsearch.errors import NotFound
from segsearch.feed.service import Feed


def set_manual(feed: Feed, customer_id: str, group: str, assigned: bool,
               refresh: str | None = None) -> dict:
    """Assign or remove a hand-assigned group; a group a segment grants stays in user_groups."""
    def mutate(doc: dict | None) -> dict:
        doc = doc or {}
        manual = set(doc.get("manual_user_groups", []))
        (manual.add if assigned else manual.discard)(group)
        # Segment-granted groups are the membership engine's; only the union changes here.
        granted = set(doc.get("segment_user_groups", []))
        return {"manual_user_groups": sorted(manual), "user_groups": sorted(manual | granted)}

    failed = feed.patch_customers({customer_id: mutate},
                                  ["manual_user_groups", "segment_user_groups"], refresh)
    if failed.get(customer_id) == "missing":
        raise NotFound(f"Customer {customer_id!r} not found.")
    return feed.get_customer(customer_id)
