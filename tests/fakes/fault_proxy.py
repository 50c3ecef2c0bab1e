"""A proxy on 127.0.0.1 that stands between director and a fake service and makes the network
lie: it loses answers, garbles them, and cuts bodies short, after the request has reached the
service (so the work is done, and paid for, upstream).

    with FakeDashScope() as wan, FaultProxy(wan.origin) as proxy:
        wan.result_base = proxy.origin           # result downloads go through the proxy too
        proxy.add("POST", "/api/v1/services/", "lose")      # the next submit's answer is lost
        os.environ["DASHSCOPE_HTTP_BASE_URL"] = proxy.url("/api/v1")

Faults, each applied to the next ``times`` requests whose method and path match:

- ``lose``: the request goes through, the service answers, and the proxy closes the
  connection without a word (a read timeout or a reset, as far as the client can tell);
- ``html``: the service's answer is replaced by ``200`` with an HTML page (a captive portal or
  a load balancer's error page);
- ``garble``: the answer's status is kept and its body replaced with text that is not JSON;
- ``cut``: the answer's headers promise the whole body, and the connection closes after
  ``keep`` bytes of it.

``seen`` records every request (method, path, the fault applied or "").
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

FAULTS = ("lose", "html", "garble", "cut")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass
class Rule:
    method: str
    prefix: str
    fault: str
    times: int = 1
    keep: int = 1024  # bytes of the body a "cut" lets through

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and path.startswith(self.prefix)


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rules: list[Rule] = []
        self.seen: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def add(self, method: str, prefix: str, fault: str, *, times: int = 1, keep: int = 1024):
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {FAULTS}")
        self.rules.append(Rule(method, prefix, fault, times, keep))

    def faults(self, fault: str) -> int:
        """How many requests got ``fault``."""
        return sum(1 for *_, applied in self.seen if applied == fault)

    def take(self, method: str, path: str) -> Rule | None:
        with self._lock:
            rule = next((r for r in self.rules if r.matches(method, path)), None)
            if rule is not None:
                rule.times -= 1
            self.seen.append((method, path, rule.fault if rule else ""))
            return rule

    # --- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> FaultProxy:
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        loop = self._server.serve_forever
        threading.Thread(target=loop, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"


class _Handler(BaseHTTPRequestHandler):
    proxy: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        self._relay()

    def do_POST(self) -> None:
        self._relay()

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        path = urlsplit(self.path).path
        rule = self.proxy.take(self.command, path)
        status, headers, data = self._upstream(body)
        if rule is None:
            return self._send(status, headers, data)
        if rule.fault == "lose":
            self.close_connection = True  # the work was done upstream; the answer never comes
            return
        if rule.fault == "html":
            page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            return self._send(200, [("Content-Type", "text/html")], page)
        if rule.fault == "garble":
            return self._send(status, [("Content-Type", "application/json")], b"\x00{oops")
        self._send(status, headers, data, keep=rule.keep)

    def _upstream(self, body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.proxy.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            kept = [
                (k, v)
                for k, v in response.getheaders()
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
            ]
            return response.status, kept, data
        finally:
            conn.close()

    def _send(
        self, status: int, headers: list[tuple[str, str]], data: bytes, keep: int | None = None
    ) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        try:
            self.end_headers()
            self.wfile.write(data if keep is None else data[:keep])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if keep is not None:
            self.close_connection = True
