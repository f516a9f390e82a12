"""A real Prometheus server for the verify tests (issue 31), and the small exporter it scrapes.

Prometheus is Debian's binary that tests/cluster/prometheus.sh unpacks into the test environment's bin folder; it runs
on loopback with a 1 s scrape interval and a private data folder, and is stopped (only the process it started) when
the test ends, or halfway when a test says so. The exporter serves request and error counters per revision, labelled
with the revision's pod-template-hash, at the rates the test sets; the counters grow with the wall clock, so
Prometheus's rate() over them is the rate the test chose.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import pytest

from tests.cluster.controlplane import bin_dir, free_port, terminate
from tests.scenarios import wait_until

SCRAPE_INTERVAL = "1s"


class Exporter:
    """`http_requests_total` and `http_errors_total` per pod_template_hash, and Istio's `istio_requests_total` (the
    metric of Argo Rollouts' documented template) per destination_service and response_code, from the same traffic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # hash -> (service, requests per second, errors per second, counters at `since`, since)
        self._traffic: Dict[str, Tuple[str, float, float, float, float, float]] = {}
        self._server = _local_server(lambda method, path, body: (200, "text/plain; version=0.0.4",
                                                                 self.render().encode()))
        self.address = f"127.0.0.1:{self._server.server_address[1]}"

    def serve(self, pod_template_hash: str, requests_per_second: float, error_ratio: float,
              service: str = "web") -> None:
        """From now on, this revision gets this traffic (its counters keep what they had)."""
        now = time.monotonic()
        with self._lock:
            requests, errors = self._counters(pod_template_hash, now)
            self._traffic[pod_template_hash] = (service, requests_per_second, requests_per_second * error_ratio,
                                                requests, errors, now)

    def _counters(self, pod_template_hash: str, now: float) -> Tuple[float, float]:
        if pod_template_hash not in self._traffic:
            return 0.0, 0.0
        _, rps, eps, requests, errors, since = self._traffic[pod_template_hash]
        return requests + rps * (now - since), errors + eps * (now - since)

    def render(self) -> str:
        now = time.monotonic()
        lines = ["# TYPE http_requests_total counter", "# TYPE http_errors_total counter",
                 "# TYPE istio_requests_total counter"]
        with self._lock:
            for key, (service, *_rest) in sorted(self._traffic.items()):
                requests, errors = self._counters(key, now)
                lines.append(f'http_requests_total{{pod_template_hash="{key}"}} {requests}')
                lines.append(f'http_errors_total{{pod_template_hash="{key}"}} {errors}')
                for code, value in (("200", requests - errors), ("500", errors)):
                    lines.append(f'istio_requests_total{{reporter="source",destination_service="{service}",'
                                 f'response_code="{code}",pod_template_hash="{key}"}} {value}')
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Prometheus:
    """The real server, scraping `exporter` every second; `url` is what a template's `address` names."""

    def __init__(self, workdir: Path, exporter: Exporter):
        binary = bin_dir() / "prometheus"
        if not os.access(binary, os.X_OK):
            pytest.fail(f"no prometheus in {bin_dir()}: run tests/cluster/prometheus.sh (make testenv) first")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            "scrape_configs": [{"job_name": "exporter", "static_configs": [{"targets": [exporter.address]}]}],
        }
        (workdir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(workdir / "prometheus.log", "wb")
        self._proc: Optional[subprocess.Popen] = subprocess.Popen(
            [str(binary), f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        wait_until(lambda: self._proc.poll() is not None or self._ready(), "prometheus to be ready", timeout=60)
        if self._proc.poll() is not None:
            pytest.fail(f"prometheus exited {self._proc.returncode}:\n{self.log_tail()}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def query(self, promql: str) -> list:
        """The instant vector of `promql` now ([] when empty)."""
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())["data"]["result"]

    def wait_for_value(self, promql: str, predicate, what: str, timeout: float = 60) -> float:
        """Wait until `promql` gives one sample whose value satisfies `predicate`; return that value."""
        def value() -> Optional[Tuple[float]]:  # a tuple: a value of 0.0 is an answer too
            samples = self.query(promql)
            if len(samples) == 1 and predicate(float(samples[0]["value"][1])):
                return (float(samples[0]["value"][1]),)
            return None

        return wait_until(value, what, timeout=timeout, interval=0.5)[0]

    def stop(self) -> None:
        if self._proc is not None:
            terminate(self._proc)
            self._proc = None
            self._log.close()

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join((self.workdir / "prometheus.log").read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def exporter():
    server = Exporter()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def prometheus(tmp_path, exporter):
    server = Prometheus(tmp_path / "prometheus", exporter)
    try:
        yield server
    finally:
        server.stop()


class ForwardProxy:
    """An HTTP proxy (HTTP_PROXY) that sends every request, whatever host it names, to the local Prometheus: so a
    template whose address is Argo Rollouts' documented prometheus.example.com reaches the real server unchanged."""

    def __init__(self, prometheus: Prometheus):
        target = prometheus.url

        def forward(method: str, path: str, body: bytes) -> Tuple[int, str, bytes]:
            parts = urllib.parse.urlsplit(path)  # a proxy gets the whole URL: http://prometheus.example.com:P/...
            request = urllib.request.Request(target + parts.path + (f"?{parts.query}" if parts.query else ""),
                                             data=body or None, method=method,
                                             headers={"Content-Type": "application/x-www-form-urlencoded"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, "application/json", response.read()
            except urllib.error.HTTPError as exc:
                return exc.code, "application/json", exc.read()

        self._server = _local_server(forward)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _local_server(respond: Callable[[str, str, bytes], Tuple[int, str, bytes]]) -> http.server.ThreadingHTTPServer:
    """An HTTP server on a free loopback port, in a daemon thread: `respond(method, path, body)` gives
    (status, content type, body) for each GET or POST."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, content_type, body = respond(self.command, self.path, self.rfile.read(length) if length else b"")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
