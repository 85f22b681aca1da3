"""HTTP(S) requests to an address that was checked, under the URL's own host name.

http.client would resolve the host again when it connects, and the answer could differ
from the one segsearch.net.addresses vetted (DNS rebinding). These connections take the
vetted address for the TCP connection and keep the name for the Host header, TLS SNI and
certificate verification. No proxy is used (a proxy would resolve the name itself) and
no redirect is followed (http.client never follows one).
"""
from __future__ import annotations

import http.client
import socket
import ssl

from segsearch.net.addresses import IPAddress, Target

# A receiver's answer body is not used; read only this much so a large one costs nothing.
MAX_RESPONSE_BYTES = 64 * 1024


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: IPAddress, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = str(address)

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: IPAddress, timeout: float):
        # The default context verifies the certificate against the host name.
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = str(address)

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def _connection(target: Target, address: IPAddress, timeout: float) -> http.client.HTTPConnection:
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    return cls(target.host, target.port, address, timeout)


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST `body` to the target and return the HTTP status (any status, 3xx included).

    Tries the vetted addresses in resolver order until one accepts the connection;
    OSError (refused, timeout, TLS) or http.client.HTTPException if none answers.
    """
    last_error: Exception | None = None
    for address in target.addresses:
        conn = _connection(target, address, timeout)
        try:
            conn.connect()
        except OSError as err:  # this address is down: the next one may answer
            conn.close()
            last_error = err
            continue
        try:
            conn.request("POST", target.path, body=body, headers=headers)
            response = conn.getresponse()
            response.read(MAX_RESPONSE_BYTES)
            return response.status
        finally:
            conn.close()
    raise last_error or OSError("no address to connect to")
