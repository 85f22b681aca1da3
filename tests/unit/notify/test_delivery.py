"""Signing and the HTTP POST of one delivery, against a real server on 127.0.0.1."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from segsearch.notify.delivery import DeliveryError, encode_body, post, sign


def test_signature_is_hmac_sha256_of_the_body():
    body = encode_body([{"type": "segment.entered", "customer_id": "é"}])
    assert json.loads(body) == {"events": [{"type": "segment.entered", "customer_id": "é"}]}
    expected = hmac.new(b"k" * 16, body, hashlib.sha256).hexdigest()
    assert sign("k" * 16, body) == f"sha256={expected}"
    assert sign("other-secret-123", body) != sign("k" * 16, body)


@pytest.fixture
def server():
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status = int(self.path.rsplit("/", 1)[1])
            self.send_response(status)
            if status in (301, 302, 307, 308):
                self.send_header("Location", "/200")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_success(server, status):
    base, seen = server
    body = encode_body([])
    assert post(f"{base}/{status}", body, "s" * 16, "d-1", timeout=5) == status
    headers = seen[0]["headers"]
    assert seen[0]["body"] == body and headers["Content-Type"] == "application/json"
    assert headers["X-Segsearch-Signature"] == sign("s" * 16, body)
    assert headers["X-Segsearch-Delivery"] == "d-1"


@pytest.mark.parametrize("status", [301, 302, 307, 400, 404, 410, 500, 503])
def test_other_answers_fail_and_redirects_are_not_followed(server, status):
    base, seen = server
    with pytest.raises(DeliveryError, match=str(status)):
        post(f"{base}/{status}", encode_body([]), "s" * 16, "d-1", timeout=5)
    assert len(seen) == 1


def test_connection_refused_fails():
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(DeliveryError, match="unreachable"):
            post(f"http://127.0.0.1:{port}/x", b"{}", "s" * 16, "d-1", timeout=2)


def test_a_receiver_that_never_answers_times_out():
    with socket.socket() as listener:  # accepts the connection, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(DeliveryError, match="unreachable"):
            post(f"http://127.0.0.1:{port}/x", b"{}", "s" * 16, "d-1", timeout=0.5)

