"""API tokens over HTTP (CONTRACT 6.5): create, list without secrets, revoke. Admin only."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from segsearch.api.security import requires
from segsearch.auth.schemas import TokenCreate, TokenCreated, TokenListArgs, TokenOut, TokenPage
from segsearch.extensions import services

blp = Blueprint("tokens", __name__, url_prefix="/api/v1", description="API tokens")


@blp.route("/tokens")
class Tokens(MethodView):
    @requires("admin")
    @blp.arguments(TokenListArgs, location="query", as_kwargs=False)
    @blp.response(200, TokenPage)
    @blp.doc(summary="List tokens, newest first (never the tokens themselves)")
    def get(self, args):
        return services().tokens.list(args["page_size"], args["cursor"])

    @requires("admin")
    @blp.arguments(TokenCreate)
    @blp.response(201, TokenCreated)
    @blp.doc(summary="Create a token with a role",
             description="The bearer token is in this answer only; segsearch keeps its "
                         "SHA-256 hash. Roles: admin, marketer, viewer, ingest.")
    def post(self, data):
        return services().tokens.issue(data["role"], data["name"])


@blp.route("/tokens/<string:token_id>")
class Token(MethodView):
    @requires("admin")
    @blp.response(200, TokenOut)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.doc(summary="One token (never the token itself)")
    def get(self, token_id: str):
        return services().tokens.get(token_id)

    @requires("admin")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.doc(summary="Revoke a token: its next request is a 401")
    def delete(self, token_id: str):
        services().tokens.revoke(token_id)
        return ""
