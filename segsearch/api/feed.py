"""The data feed (CONTRACT section 3): ingest role, JSON in, 422 naming bad fields."""
from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from segsearch.api import docs
from segsearch.api.security import refresh_arg, requires
from segsearch.api.views import customer_out
from segsearch.errors import Invalid
from segsearch.extensions import services
from segsearch.feed import schemas

blp = Blueprint("feed", __name__, url_prefix="/api/v1", description="Data feed")

# The feed reads its bodies itself (a bulk reports each bad item instead of failing the
# request), so the request bodies are documented rather than parsed by webargs.
REFRESH = {"in": "query", "name": "refresh", "required": False,
           "schema": {"type": "string", "enum": ["wait_for"]},
           "description": "the write is visible to search when the response returns"}


def _body() -> Any:
    """The JSON body; malformed or missing JSON is a 422 like any other bad body."""
    data = request.get_json(silent=True)
    if data is None:
        raise Invalid("The body must be JSON.", {"_schema": ["Missing or malformed JSON."]})
    return data


def _bulk_items(key: str) -> list:
    data = _body()
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise Invalid(f"The body must be {{\"{key}\": [...]}}.", {key: ["Missing or not a list."]})
    limit = services().config["BULK_MAX_ITEMS"]
    if len(data[key]) > limit:
        raise Invalid(f"At most {limit} items per request.", {key: [f"More than {limit} items."]})
    return data[key]


@blp.route("/customers/<string:customer_id>")
class Customer(MethodView):
    @requires("feed:write")
    @blp.alt_response(200, schema=docs.CustomerOut, description="updated", success=True)
    @blp.alt_response(201, schema=docs.CustomerOut, description="created", success=True)
    @blp.doc(summary="Upsert a customer", parameters=[REFRESH],
             requestBody=docs.json_body(schemas.CustomerBody))
    def put(self, customer_id: str):
        doc, created = services().feed.put_customer(customer_id, _body(), refresh_arg())
        return customer_out(doc), 201 if created else 200

    @requires("customers:read")
    @blp.alt_response(200, schema=docs.CustomerOut, success=True)
    @blp.doc(summary="A customer with derived fields, segments and user groups")
    def get(self, customer_id: str):
        return customer_out(services().feed.get_customer(customer_id))

    @requires("feed:write")
    @blp.alt_response(204, description="erased", success=True)
    @blp.doc(summary="Erase a customer with its orders and membership", parameters=[REFRESH])
    def delete(self, customer_id: str):
        services().feed.delete_customer(customer_id, refresh_arg())
        return "", 204


@blp.route("/customers/_bulk", methods=["POST"])
@requires("feed:write")
@blp.alt_response(200, schema=docs.BulkResult, success=True)
@blp.doc(summary="Upsert up to 5000 customers; good items land, bad ones are named",
         parameters=[REFRESH], requestBody=docs.json_body(schemas.CustomersBulk))
def customers_bulk():
    return services().feed.bulk_customers(_bulk_items("customers"), refresh_arg())


@blp.route("/orders/<string:order_id>", methods=["PUT"])
@requires("feed:write")
@blp.alt_response(200, schema=docs.OrderOut, description="updated", success=True)
@blp.alt_response(201, schema=docs.OrderOut, description="created", success=True)
@blp.doc(summary="Upsert an order; its customer's aggregates follow", parameters=[REFRESH],
         requestBody=docs.json_body(schemas.OrderBody))
def order_put(order_id: str):
    order, created = services().feed.put_order(order_id, _body(), refresh_arg())
    return order, 201 if created else 200


@blp.route("/orders/_bulk", methods=["POST"])
@requires("feed:write")
@blp.alt_response(200, schema=docs.BulkResult, success=True)
@blp.doc(summary="Upsert up to 5000 orders", parameters=[REFRESH],
         requestBody=docs.json_body(schemas.OrdersBulk))
def orders_bulk():
    return services().feed.bulk_orders(_bulk_items("orders"), refresh_arg())


def _put_products(items: list) -> dict:
    svc = services()
    svc.require_redis()  # a regrouping needs a job: refuse now rather than half-apply
    result = svc.feed.catalog.put_products(items, refresh_arg())
    if result["regrouped"]:
        svc.enqueue("workers.jobs.rederive_products", svc.indices.prefix, result["regrouped"])
    return result


@blp.route("/products/<string:product_id>", methods=["PUT"])
@requires("feed:write")
@blp.alt_response(200, schema=docs.ProductOut, description="updated", success=True)
@blp.alt_response(201, schema=docs.ProductOut, description="created", success=True)
@blp.doc(summary="Upsert a product {name, price, groups}", parameters=[REFRESH],
         requestBody=docs.json_body(schemas.ProductBody))
def product_put(product_id: str):
    body = _body()
    if isinstance(body, dict):
        if body.get("id") not in (None, product_id):
            raise Invalid("Invalid body.", {"id": ["Does not match the URL."]})
        body = {**body, "id": product_id}
    result = _put_products([body])
    if result["errors"]:
        errors = result["errors"][0]["errors"]
        raise Invalid("Invalid fields: " + ", ".join(sorted(errors)), errors)
    product = schemas.load(schemas.ProductSchema(), body)  # valid: it was just written
    price = None if product["price"] is None else float(product["price"])
    return {**product, "price": price}, 201 if result["created"] else 200


@blp.route("/products/_bulk", methods=["POST"])
@requires("feed:write")
@blp.alt_response(200, schema=docs.BulkResult, success=True)
@blp.doc(summary="Upsert up to 5000 products", parameters=[REFRESH],
         requestBody=docs.json_body(schemas.ProductsBulk))
def products_bulk():
    result = _put_products(_bulk_items("products"))
    return {"indexed": result["indexed"], "errors": result["errors"]}


@blp.route("/product-groups/<string:group_id>", methods=["PUT"])
@requires("feed:write")
@blp.alt_response(200, schema=docs.ProductGroupOut, description="updated", success=True)
@blp.alt_response(201, schema=docs.ProductGroupOut, description="created", success=True)
@blp.doc(summary="Upsert a product group {name, parent_id}: groups form a tree; the parent "
                 "must exist (422 otherwise)", parameters=[REFRESH],
         requestBody=docs.json_body(schemas.ProductGroupBody))
def group_put(group_id: str):
    svc = services()
    svc.require_redis()  # a regrouping needs a job: refuse now rather than half-apply
    existed = group_id in svc.feed.catalog.parents()
    group, regrouped = svc.feed.catalog.put_group(group_id, _body(), refresh_arg())
    if regrouped:
        svc.enqueue("workers.jobs.rederive_products", svc.indices.prefix, regrouped)
    return group, 200 if existed else 201


@blp.route("/custom-fields/<string:code>", methods=["PUT"])
@requires("feed:write")
@blp.alt_response(200, schema=docs.CustomFieldOut, description="unchanged type", success=True)
@blp.alt_response(201, schema=docs.CustomFieldOut, description="registered", success=True)
@blp.doc(summary="Register a custom field {label, type}", parameters=[REFRESH],
         requestBody=docs.json_body(schemas.CustomFieldBody))
def custom_field_put(code: str):
    svc = services()
    svc.require_redis()  # every process must hear of the change (its cached catalogue)
    field, created = svc.feed.catalog.put_custom_field(code, _body(), refresh_arg())
    return field, 201 if created else 200


@blp.route("/custom-fields", methods=["GET"])
@requires("segments:read")
@blp.alt_response(200, schema=docs.CustomFieldPage, success=True)
@blp.doc(summary="Registered custom fields")
def custom_fields_list():
    items = services().feed.catalog.custom_fields()
    return {"items": items, "next_cursor": None, "total": len(items)}
