"""Customer reads beyond the feed (lists, members of a segment) and hand-assigned groups."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from segsearch.api.security import refresh_arg, requires
from segsearch.api.views import customer_out
from segsearch.extensions import services
from segsearch.segments.user_groups import set_manual

blp = Blueprint("customers", __name__, url_prefix="/api/v1", description="Customers")


@blp.route("/customers/<string:customer_id>/user-groups/<string:group>")
class ManualUserGroup(MethodView):
    @requires("customers:write")
    @blp.doc(summary="Assign a user group by hand")
    def post(self, customer_id: str, group: str):
        return customer_out(set_manual(services().feed, customer_id, group, True, refresh_arg()))

    @requires("customers:write")
    @blp.doc(summary="Remove a hand-assigned user group (a segment may still grant it)")
    def delete(self, customer_id: str, group: str):
        return customer_out(set_manual(services().feed, customer_id, group, False, refresh_arg()))
