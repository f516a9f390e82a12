"""/healthz and /metrics over HTTP, with the standard library's WSGI server and prometheus_client's exposition."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Tuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from kubectl_rollback.errors import RollbackError
from kubectl_rollback.watcher.loop import Health
from kubectl_rollback.watcher.metrics import Metrics


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds would drown the decisions
        pass


class _ThreadedServer(WSGIServer):
    daemon_threads = True


def serve(address: Tuple[str, int], metrics: Metrics, health: Callable[[], Health]) -> WSGIServer:
    """Start serving in a daemon thread: /healthz (or /readyz) is 200 while the watcher sees every change, /livez
    unless it has been blind long enough that a restart may help; 503 otherwise, with why."""
    exposition = make_wsgi_app(metrics.registry)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path in ("/healthz", "/readyz", "/livez"):
            now = health()
            ok = now.alive if path == "/livez" else now.ready
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ok\n" if ok else f"{now.why}\n".encode()]
        if path == "/metrics":
            return exposition(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: /healthz, /readyz, /livez and /metrics are served\n"]

    try:
        server = make_server(address[0], address[1], app, server_class=_ThreadedServer, handler_class=_QuietHandler)
    except OSError as exc:
        raise RollbackError(f"--health-address {address[0]}:{address[1]}: cannot listen ({exc.strerror}); "
                            "pick another port") from None
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="health", daemon=True).start()
    return server
