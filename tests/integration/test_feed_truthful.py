"""Issue 8 item 2: every write's fate is reported truthfully, against the real node.

Values the index refuses are sent straight to the Feed service (bypassing the API's input
validation) so that the node itself refuses them; lost races are provoked by a real
concurrent writer that rewrites the customer between each read and conditional write.
"""
from __future__ import annotations

from decimal import Decimal

import elasticsearch
import pytest

from segsearch.errors import Invalid, NotFound
from segsearch.feed.failures import WriteFailed
from segsearch.feed.schemas import OrderSchema, load
from segsearch.feed.service import Feed
from segsearch.search.client import make_client

pytestmark = pytest.mark.integration
BEYOND_64_BITS = 2**70


def order(oid: str, customer: str, total: str = "10.00") -> dict:
    return {"id": oid, "customer_id": customer, "created_at": "2025-05-01T10:00:00Z",
            "status": "paid", "total": total, "items": []}


@pytest.fixture
def big(feed):
    feed.catalog.put_custom_field("big", {"label": "Big", "type": "integer"})
    return feed


def test_put_customer_with_a_value_the_index_refuses_is_422(big):
    # Input validation now names it before the node can (limits.py); either way a 422.
    with pytest.raises((WriteFailed, Invalid)) as err:
        big.put_customer("c1", {"type": "person", "custom": {"big": BEYOND_64_BITS}})
    assert err.value.status == 422 and list(err.value.errors) == ["custom.big"]
    with pytest.raises(NotFound):
        big.get_customer("c1")


def test_bulk_customers_lands_the_good_and_names_the_refused(big):
    items = [{"id": "c1"}, {"id": "c2", "custom": {"big": BEYOND_64_BITS}}, {"id": "c3"},
             {"id": "c4", "email": "not-an-email"}]
    result = big.bulk_customers(items)
    assert result["indexed"] == 2
    by_id = {e["id"]: e for e in result["errors"]}
    assert by_id["c2"]["code"] == 422 and by_id["c2"]["index"] == 1
    assert "custom.big" in by_id["c2"]["errors"]
    assert by_id["c4"]["code"] == 422 and "email" in by_id["c4"]["errors"]
    assert big.get_customer("c1") and big.get_customer("c3")
    with pytest.raises(NotFound):
        big.get_customer("c2")


def test_update_customers_reports_a_refusal_as_a_422_failure(big):
    """Below any input validation: the node's own refusal, classified."""
    failed = big.update_customers({"c1": lambda doc: {"id": "c1", "custom": {"big": BEYOND_64_BITS}}}, None)
    assert failed["c1"].status == 422 and failed["c1"].field == "custom.big"


def test_api_put_refused_by_the_index_is_422(api):
    assert api.put("/api/v1/custom-fields/big", json={"label": "Big", "type": "integer"}).status_code == 201
    r = api.put("/api/v1/customers/c1", json={"type": "person", "custom": {"big": BEYOND_64_BITS}})
    assert r.status_code == 422 and "custom.big" in r.json["errors"]


def test_an_order_the_index_refuses_does_not_land_and_its_move_is_undone(feed):
    for cid in "AB":
        feed.put_customer(cid, {"type": "person"})
    feed.put_order("o1", order("o1", "A"))
    overflowing = load(OrderSchema(), order("o1", "B"))
    overflowing["total"] = Decimal(10**17)  # minor units beyond a long
    result = feed.bulk_orders_validated([overflowing, load(OrderSchema(), order("o2", "B", "5.00")),
                                         load(OrderSchema(), order("o3", "A", "7.00"))], None)
    assert result["indexed"] == 2
    assert [(e["id"], e["code"]) for e in result["errors"]] == [("o1", 422)]
    a, b = feed.get_customer("A"), feed.get_customer("B")
    assert sorted(o["id"] for o in a["orders"]) == ["o1", "o3"] and a["total_spent"] == 17.0
    assert [o["id"] for o in b["orders"]] == ["o2"] and b["total_spent"] == 5.0
    entry = feed.es.get(index=feed.indices.order_owners, id="o1")["_source"]
    assert entry["customer_id"] == "A" and entry["order"]["total_minor"] == 1000


class RacingClient:
    """The real client; after every customer read, another writer rewrites those customers
    (a real write on the node), so every conditional write that follows loses its race."""

    def __init__(self, es: elasticsearch.Elasticsearch, index: str):
        self._es, self._index = es, index

    def __getattr__(self, name):
        return getattr(self._es, name)

    def mget(self, *, index=None, ids=None, docs=None, **kwargs):
        if docs is not None:  # one read over several indices (the order writer's)
            res = self._es.mget(docs=docs, **kwargs)
            ids = [d["_id"] for d in docs if d["_index"] == self._index]
        else:
            res = self._es.mget(index=index, ids=ids, **kwargs)
            ids = ids if index == self._index else []
        if ids:
            for doc in self._es.mget(index=self._index, ids=ids)["docs"]:
                if doc.get("found"):
                    self._es.index(index=self._index, id=doc["_id"], document=doc["_source"])
        return res


def test_races_lost_too_often_are_409_never_success(es, indices, feed):
    for cid in "AB":
        feed.put_customer(cid, {"type": "person", "city": "Moscow"})
    feed.put_order("o1", order("o1", "A"))
    racing = Feed(RacingClient(es, indices.customers), indices, occ_retries=3)
    with pytest.raises(WriteFailed) as err:
        racing.put_customer("A", {"type": "person", "city": "Kazan"})
    assert err.value.status == 409
    assert feed.get_customer("A")["city"] == "Moscow"
    result = racing.bulk_customers([{"id": "A", "city": "Kazan"}, {"id": "new"}])
    assert result["indexed"] == 1  # a created customer has no race to lose
    assert [(e["id"], e["code"]) for e in result["errors"]] == [("A", 409)]
    with pytest.raises(WriteFailed) as err:
        racing.put_order("o1", order("o1", "B"))
    assert err.value.status == 409
    assert [o["id"] for o in feed.get_customer("A")["orders"]] == ["o1"]  # the move was undone
    assert feed.get_customer("B").get("orders") == []


def test_an_unreachable_node_raises_the_clients_connection_error(indices):
    down = Feed(make_client("http://127.0.0.1:9"), indices, occ_retries=2)
    with pytest.raises(elasticsearch.ConnectionError):
        down.put_customer("c1", {"type": "person"})
    with pytest.raises(elasticsearch.ConnectionError):
        down.bulk_orders([order("o1", "c1")])
