"""How stored documents are shown through the API."""
from __future__ import annotations

# Derived for the index only: the rule compiler reads them, clients never need them.
_INTERNAL = {"birthday_md", "custom_md", "email_lc"}
_INTERNAL_ORDER = {"total_minor", "product_groups", "product_ids"}


def customer_out(doc: dict) -> dict:
    out = {k: v for k, v in doc.items() if k not in _INTERNAL}
    out["orders"] = [{k: v for k, v in o.items() if k not in _INTERNAL_ORDER}
                     for o in doc.get("orders", [])]
    out["user_groups"] = sorted(set(doc.get("manual_user_groups", []))
                                | set(doc.get("segment_user_groups", [])))
    for key in ("segments", "manual_user_groups", "segment_user_groups"):
        out.setdefault(key, [])
    return out
