"""The field catalogue: every field a rule may name, with its block, type and operators.

One data-driven registry, pure and import-safe. The validator, the compiler and
``GET /api/v1/fields`` all read it, so a field exists for rules exactly when it is listed
here (or registered as a custom field).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

BLOCKS: tuple[str, ...] = ("customer", "orders", "products", "communications", "segments")

# Operators by field type (CONTRACT section 5). `orders` is the pseudo-field of the
# nested orders: it is only counted or summed.
OPERATORS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "keyword": ("in", "exists", "missing"),
    "keywords": ("in", "exists", "missing"),
    "number": ("between", "exists", "missing"),
    "integer": ("between", "exists", "missing"),
    "date": ("between", "relative", "exists", "missing"),
    "datetime": ("between", "relative", "exists", "missing"),
    "boolean": ("is", "exists", "missing"),
    "age": ("between", "exists", "missing"),
    "orders": ("count", "sum"),
    # Membership of other segments as stored now (CONTRACT 6.2): only include / exclude.
    "segments": ("in",),
}

# Registered custom field types -> catalogue types.
CUSTOM_TYPES: dict[str, str] = {
    "string": "keyword",
    "integer": "integer",
    "decimal": "number",
    "date": "date",
    "boolean": "boolean",
}


@dataclass(frozen=True)
class FieldDef:
    """One catalogue entry; `path` is the Elasticsearch field the compiler queries."""

    code: str
    label: str
    block: str  # customer | orders | products | communications | segments
    type: str  # keyword | keywords | number | integer | date | datetime | boolean | age | orders
    #            | segments (codes of other segments; values come from the stored segments)
    operators: tuple[str, ...]
    path: str | None  # ES path
    md_path: str | None = None  # date fields: month*100+day, for ignore_year
    values: tuple[str, ...] | None = None  # enumerations for the editor (sex, type)

    @property
    def es_path(self) -> str:
        """The path, for operators that only exist on indexed fields (the catalogue's job)."""
        if self.path is None:
            raise ValueError(f"field {self.code!r} has no index path")
        return self.path

    @property
    def es_md_path(self) -> str:
        """The month-day ordinal path of a date field (ignore_year operators only)."""
        if self.md_path is None:
            raise ValueError(f"field {self.code!r} has no month-day path")
        return self.md_path

    def to_json(self) -> dict:
        """The public shape served by ``GET /api/v1/fields`` (no ES internals)."""
        return {
            "code": self.code,
            "label": self.label,
            "block": self.block,
            "type": self.type,
            "operators": list(self.operators),
            "values": list(self.values) if self.values is not None else None,
            "custom": self.code.startswith("custom."),
        }


def _field(
    code: str,
    label: str,
    block: str,
    type_: str,
    *,
    path: str | None = None,
    md_path: str | None = None,
    values: tuple[str, ...] | None = None,
) -> FieldDef:
    # Most fields are stored under their own code; the operators always follow the type.
    return FieldDef(
        code=code,
        label=label,
        block=block,
        type=type_,
        operators=OPERATORS_BY_TYPE[type_],
        path=path if path is not None else code,
        md_path=md_path,
        values=values,
    )


BUILTIN_FIELDS: tuple[FieldDef, ...] = (
    # customer
    _field("type", "Customer type", "customer", "keyword", values=("person", "company")),
    _field("first_name", "First name", "customer", "keyword"),
    _field("last_name", "Last name", "customer", "keyword"),
    _field("email", "E-mail", "customer", "keyword"),
    _field("email_domain", "E-mail domain", "customer", "keyword"),
    _field("phone", "Phone", "customer", "keyword"),
    _field("sex", "Sex", "customer", "keyword", values=("male", "female")),
    _field("birthday", "Birthday", "customer", "date", md_path="birthday_md"),
    # Age is derived from the birthday at evaluation time, so it queries `birthday`.
    _field("age", "Age", "customer", "age", path="birthday"),
    _field("city", "City", "customer", "keyword"),
    _field("country", "Country", "customer", "keyword"),
    _field("store", "Store", "customer", "keyword"),
    _field("source", "Source", "customer", "keyword"),
    _field("manager", "Manager", "customer", "keyword"),
    _field("tags", "Tags", "customer", "keywords"),
    _field("vip", "VIP", "customer", "boolean"),
    _field("created_at", "Created", "customer", "datetime"),
    # orders
    _field("orders_count", "Number of orders", "orders", "integer"),
    _field("total_spent", "Total spent", "orders", "number"),
    _field("average_order_value", "Average order value", "orders", "number"),
    _field("first_order_at", "First order", "orders", "datetime"),
    _field("last_order_at", "Last order", "orders", "datetime"),
    _field("order_statuses", "Order statuses", "orders", "keywords"),
    _field("orders", "Orders", "orders", "orders"),
    # products (customer-level arrays; product_groups already holds every ancestor)
    _field("products", "Products", "products", "keywords"),
    _field("product_groups", "Product groups", "products", "keywords"),
    # communications
    _field("email_subscribed", "Subscribed to e-mail", "communications", "boolean"),
    _field("sms_subscribed", "Subscribed to SMS", "communications", "boolean"),
    _field("last_email_opened_at", "Last e-mail opened", "communications", "datetime"),
    # segments: the customer's stored membership (`segments` holds the codes). Which codes
    # exist is not the catalogue's business: the service checks them (and cycles).
    _field("segments", "Segments", "segments", "segments"),
)


def custom_field(spec: Mapping) -> FieldDef:
    """The catalogue entry for one registered custom field ``{"code", "label", "type"}``.

    Raises ValueError for a type the catalogue cannot query (fail closed).
    """
    code, kind = spec["code"], spec["type"]
    if kind not in CUSTOM_TYPES:
        raise ValueError(f"custom field {code!r}: unknown type {kind!r}")
    type_ = CUSTOM_TYPES[kind]
    return _field(
        f"custom.{code}",
        spec.get("label") or code,
        "customer",
        type_,
        md_path=f"custom_md.{code}" if type_ == "date" else None,
    )


def catalogue(custom_fields: Iterable[Mapping] = ()) -> dict[str, FieldDef]:
    """Built-in fields plus one ``custom.<code>`` field per registered custom field."""
    fields = {f.code: f for f in BUILTIN_FIELDS}
    for spec in custom_fields:
        fdef = custom_field(spec)
        fields[fdef.code] = fdef
    return fields
