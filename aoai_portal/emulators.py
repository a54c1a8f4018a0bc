"""The base of the local emulators of Azure services (Log Analytics, Cost Management, Microsoft
Graph, Prompt Shields) that the demo, the tests and the benchmarks talk to over real HTTP.

An emulator subclasses ``LocalHttpServer`` (a dataclass or not: the base sets nothing before
``start()``) and answers with a ``JsonHandler`` subclass.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LocalHttpServer:
    """Serves ``http_handler()`` on ``host`` (port ``port_wanted``; 0: any free one) from
    ``start()`` to ``stop()``, in a daemon thread, each connection in a thread of its own; used as a
    context manager, from ``with`` to its end."""

    host: str = "127.0.0.1"
    port_wanted: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _scheme: str = "http"

    def http_handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def tls_context(self) -> ssl.SSLContext | None:
        """A server context, to answer HTTPS; called by ``start()``."""
        return None

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the emulator first"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{self._scheme}://{self.host}:{self.port}"

    def start(self) -> Self:
        server = ThreadingHTTPServer((self.host, self.port_wanted), self.http_handler())
        # A client keeping its connection open must not hold up stop(), nor the process's exit.
        server.daemon_threads = True
        context = self.tls_context()
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
            self._scheme = "https"
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler of an emulator: reads the body, answers JSON, logs nothing (the output of
    the tests and the demo is no place for an access log)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        return

    def body_read(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def json_send(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass
