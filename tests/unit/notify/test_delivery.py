"""Signing and the HTTP(S) POST of one delivery, against real servers on 127.0.0.1."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from segsearch.net import pinned
from segsearch.net.addresses import Target
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
            status = int(self.path.split("?")[0].rsplit("/", 1)[1])
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
    assert post(f"{base}/{status}", body, "s" * 16, "d-1", timeout=5, allow_private=True) == status
    headers = seen[0]["headers"]
    assert seen[0]["body"] == body and headers["Content-Type"] == "application/json"
    assert headers["X-Segsearch-Signature"] == sign("s" * 16, body)
    assert headers["X-Segsearch-Delivery"] == "d-1"


@pytest.mark.parametrize("status", [301, 302, 307, 400, 404, 410, 500, 503])
def test_other_answers_fail_and_redirects_are_not_followed(server, status):
    base, seen = server
    with pytest.raises(DeliveryError, match=str(status)):
        post(f"{base}/{status}", encode_body([]), "s" * 16, "d-1", timeout=5,
             allow_private=True)
    assert len(seen) == 1


def test_connection_refused_fails():
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(DeliveryError, match="unreachable"):
            post(f"http://127.0.0.1:{port}/x", b"{}", "s" * 16, "d-1", timeout=2, allow_private=True)


def test_a_receiver_that_never_answers_times_out():
    with socket.socket() as listener:  # accepts the connection, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(DeliveryError, match="unreachable"):
            post(f"http://127.0.0.1:{port}/x", b"{}", "s" * 16, "d-1", timeout=0.5,
                 allow_private=True)



def test_a_private_target_is_refused_at_delivery_and_nothing_is_sent(server):
    base, seen = server
    with pytest.raises(DeliveryError, match="refused, not sent.*loopback"):
        post(f"{base}/200", encode_body([]), "s" * 16, "d-1", timeout=5)
    with pytest.raises(DeliveryError, match="refused, not sent.*local host"):
        post(f"{base.replace('127.0.0.1', 'localhost')}/200", b"{}", "s" * 16, "d-1", timeout=5)
    assert seen == []


def test_the_post_goes_to_the_checked_address_under_the_url_host_name(server):
    """No second resolution: the name need not even resolve once the address is vetted."""
    base, seen = server
    port = int(base.rsplit(":", 1)[1])
    target = Target("http", "hooks.rebind.invalid", port, "/200?x=1",
                    (ipaddress.ip_address("127.0.0.1"),))
    assert pinned.post(target, b"{}", {"Content-Type": "application/json"}, timeout=5) == 200
    assert seen[0]["path"] == "/200?x=1"
    assert seen[0]["headers"]["Host"] == f"hooks.rebind.invalid:{port}"


def test_unreachable_addresses_are_skipped_for_the_next_checked_one(server):
    base, seen = server
    with socket.socket() as dead:  # bound, never listening: connection refused
        dead.bind(("127.0.0.2", 0))
        port = int(base.rsplit(":", 1)[1])
        target = Target("http", "localhost", port, "/204",
                        (ipaddress.ip_address("127.0.0.2"), ipaddress.ip_address("127.0.0.1")))
        assert pinned.post(target, b"{}", {}, timeout=5) == 204
    assert len(seen) == 1


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """HTTPS on 127.0.0.1 with a self-signed certificate for `localhost`, trusted via
    SSL_CERT_FILE; records the SNI name and the Host header of each request."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=30)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"host": self.headers["Host"]})
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen.append({"sni": name})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], seen
    httpd.shutdown()
    httpd.server_close()


def test_https_verifies_the_certificate_and_sends_sni_for_the_name(tls_server):
    port, seen = tls_server
    url = f"https://localhost:{port}/hook"
    assert post(url, b"{}", "s" * 16, "d-1", timeout=5, allow_private=True) == 202
    assert {"sni": "localhost"} in seen and {"host": f"localhost:{port}"} in seen
    # the same server under its IP: the certificate does not name it, so nothing is sent
    with pytest.raises(DeliveryError, match="unreachable.*CERTIFICATE_VERIFY_FAILED"):
        post(f"https://127.0.0.1:{port}/hook", b"{}", "s" * 16, "d-1", timeout=5,
             allow_private=True)
