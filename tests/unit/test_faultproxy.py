"""The fault-injection proxy, against a tiny echoing HTTPS upstream on loopback (no cluster needed)."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
import urllib3

from tests.cluster.faultproxy import (
    FaultProxy,
    Rule,
    Seen,
    Status,
    drop_response,
    freeze,
    kubeconfig_for,
    latency,
    reset,
    status,
)

DEPLOYMENT = "/apis/apps/v1/namespaces/ns1/deployments/web"
STREAM_CHUNKS = [b'{"type":"ADDED"}\n', b'{"type":"MODIFIED"}\n', b'{"type":"DELETED"}\n']


class _Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: Tuple[str, int]):
        super().__init__(address, _Echo)
        self.lock = threading.Lock()
        self.seen: List[Tuple[str, str]] = []

    def calls(self) -> List[Tuple[str, str]]:
        with self.lock:
            return list(self.seen)


class _Echo(BaseHTTPRequestHandler):
    """Answers JSON describing the request; /status/N answers N; /stream answers chunked, a chunk at a time."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer's body waits ~40 ms for the proxy's delayed ACK
    server: _Upstream

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _any(self) -> None:
        length = self.headers.get("Content-Length")
        body = self.rfile.read(int(length)) if length is not None else b""
        with self.server.lock:
            self.server.seen.append((self.command, self.path))
        if self.path == "/stream":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in STREAM_CHUNKS:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                time.sleep(0.05)
            self.wfile.write(b"0\r\n\r\n")
            return
        code = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
        data = json.dumps({
            "method": self.command,
            "path": self.path,
            "body": body.decode(),
            "authorization": self.headers.get("Authorization"),
            "content_type": self.headers.get("Content-Type"),
            "content_length": length,
        }).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "yes")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any


@pytest.fixture(scope="module")
def upstream_cert(tmp_path_factory) -> Tuple[str, str]:
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make the upstream's certificate")
    folder = tmp_path_factory.mktemp("upstream-tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture(scope="module")
def upstream_server(upstream_cert) -> Iterator[_Upstream]:
    cert, key = upstream_cert
    server = _Upstream(("127.0.0.1", 0))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def upstream(upstream_server) -> _Upstream:
    with upstream_server.lock:
        upstream_server.seen.clear()
    return upstream_server


@pytest.fixture(params=[True, False], ids=["tls", "plain"])
def any_proxy(request, upstream, upstream_cert) -> Iterator[FaultProxy]:
    """Both ways of serving, for the tests about the transport; the rule logic is tested over TLS only."""
    with FaultProxy(f"https://127.0.0.1:{upstream.server_address[1]}", upstream_cert[0], tls=request.param) as running:
        yield running


@pytest.fixture
def proxy(upstream, upstream_cert) -> Iterator[FaultProxy]:
    with FaultProxy(f"https://127.0.0.1:{upstream.server_address[1]}", upstream_cert[0]) as running:
        yield running


def pool(proxy: FaultProxy) -> urllib3.PoolManager:
    """A client trusting the proxy's certificate (when it has one) and retrying nothing, so faults show as they are."""
    return urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=5), ca_certs=proxy.ca_file)


def connection(proxy: FaultProxy) -> http.client.HTTPConnection:
    if proxy.ca_file:
        context = ssl.create_default_context(cafile=proxy.ca_file)
        return http.client.HTTPSConnection("127.0.0.1", proxy.port, timeout=5, context=context)
    return http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)


@pytest.fixture
def client(proxy) -> urllib3.PoolManager:
    return pool(proxy)


def test_forwards_method_path_query_body_and_authorization(any_proxy, upstream):
    proxy = any_proxy
    client = pool(proxy)
    resp = client.request(
        "PATCH", proxy.url + DEPLOYMENT + "?dryRun=All&fieldManager=x", body=b'{"spec":{"replicas":2}}',
        headers={"Authorization": "Bearer t0ken", "Content-Type": "application/merge-patch+json"},
    )
    assert resp.status == 200
    assert resp.headers["X-Upstream"] == "yes"
    echo = json.loads(resp.data)
    assert echo == {
        "method": "PATCH",
        "path": DEPLOYMENT + "?dryRun=All&fieldManager=x",
        "body": '{"spec":{"replicas":2}}',
        "authorization": "Bearer t0ken",
        "content_type": "application/merge-patch+json",
        "content_length": "23",
    }
    assert upstream.calls() == [("PATCH", DEPLOYMENT + "?dryRun=All&fieldManager=x")]
    assert proxy.requests == [Seen("PATCH", DEPLOYMENT, 200, dry_run=True)]


def test_a_request_without_body_stays_without_body(any_proxy):
    proxy = any_proxy
    client = pool(proxy)
    echo = json.loads(client.request("GET", proxy.url + "/api/v1/namespaces").data)
    assert echo["method"] == "GET"
    assert echo["content_length"] is None


def test_chunked_request_body_is_forwarded(any_proxy):
    proxy = any_proxy
    conn = connection(proxy)
    conn.request("POST", "/api/v1/namespaces", body=iter([b'{"a":', b"1}"]), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    echo = json.loads(conn.getresponse().read())
    conn.close()
    assert echo["body"] == '{"a":1}'


def test_upstream_errors_pass_through(proxy, client):
    resp = client.request("GET", proxy.url + "/status/404")
    assert resp.status == 404
    assert json.loads(resp.data)["path"] == "/status/404"
    assert proxy.requests == [Seen("GET", "/status/404", 404)]


def test_streamed_response_is_relayed(any_proxy):
    proxy = any_proxy
    client = pool(proxy)
    resp = client.request("GET", proxy.url + "/stream", preload_content=False)
    assert resp.status == 200
    assert resp.headers.get("Transfer-Encoding") == "chunked"
    assert resp.read() == b"".join(STREAM_CHUNKS)
    resp.release_conn()


def test_keep_alive(any_proxy):
    proxy = any_proxy
    conn = connection(proxy)
    conn.request("GET", "/one")
    first = conn.getresponse()
    first.read()
    sock = conn.sock
    conn.request("GET", "/two")
    second = conn.getresponse()
    assert json.loads(second.read())["path"] == "/two"
    assert conn.sock is sock and sock is not None  # the same connection carried both
    conn.close()


def test_status_answers_without_forwarding(any_proxy, upstream):
    proxy = any_proxy
    client = pool(proxy)
    proxy.add_rule(Rule(status(429, retry_after=2), method="PATCH", path=r"/deployments/web$"))
    resp = client.request("PATCH", proxy.url + DEPLOYMENT + "?dryRun=All", body=b"{}")
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "2"
    assert resp.headers["Content-Type"] == "application/json"
    body = json.loads(resp.data)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["reason"] == "TooManyRequests" and body["code"] == 429 and body["message"]
    assert body["details"] == {"retryAfterSeconds": 2}
    assert upstream.calls() == []
    assert proxy.requests == [Seen("PATCH", DEPLOYMENT, 429, dry_run=True)]


@pytest.mark.parametrize("code, reason", [(500, "InternalError"), (503, "ServiceUnavailable")])
def test_status_reasons(proxy, client, code, reason):
    proxy.add_rule(Rule(Status(code)))
    resp = client.request("GET", proxy.url + "/x")
    assert resp.status == code
    assert "Retry-After" not in resp.headers
    assert json.loads(resp.data)["reason"] == reason


def test_latency_then_forward(proxy, upstream, client):
    proxy.add_rule(Rule(latency(0.3), method="GET"))
    started = time.monotonic()
    resp = client.request("GET", proxy.url + "/slow")
    assert time.monotonic() - started >= 0.3
    assert resp.status == 200
    assert upstream.calls() == [("GET", "/slow")]


def test_reset_never_reaches_upstream(any_proxy, upstream):
    proxy = any_proxy
    client = pool(proxy)
    proxy.add_rule(Rule(reset(), method="*", path="/boom"))
    with pytest.raises(urllib3.exceptions.ProtocolError):
        client.request("GET", proxy.url + "/boom")
    assert upstream.calls() == []
    assert proxy.requests == [Seen("GET", "/boom", "reset")]
    assert client.request("GET", proxy.url + "/boom").status == 200  # spent after one use


def test_reset_is_a_connection_reset(any_proxy):
    proxy = any_proxy
    proxy.add_rule(Rule(reset()))
    conn = connection(proxy)
    conn.request("GET", "/x")
    with pytest.raises(ConnectionResetError):
        conn.getresponse()
    conn.close()


def silent(conn: http.client.HTTPConnection, path: str) -> bool:
    """Whether a request on `conn` gets nothing back at all: no answer, no FIN, no RST, until the client gives up."""
    conn.timeout = 1
    conn.request("GET", path)
    try:
        conn.getresponse()
    except TimeoutError:
        return True
    return False


def test_frozen_connections_stay_open_and_silent_while_new_ones_work(any_proxy, upstream):
    proxy = any_proxy
    conn = connection(proxy)
    conn.request("GET", "/one")
    conn.getresponse().read()
    assert proxy.freeze_connections() == 1
    assert silent(conn, "/two")
    fresh = connection(proxy)
    fresh.request("GET", "/three")
    assert json.loads(fresh.getresponse().read())["path"] == "/three"
    assert ("GET", "/two") not in upstream.calls()
    assert proxy.requests[-2:] == [Seen("GET", "/two", "frozen"), Seen("GET", "/three", 200)]
    conn.close()
    fresh.close()


def test_a_freeze_rule_lets_nothing_through_until_it_is_removed(proxy, upstream):
    proxy.add_rule(Rule(freeze(), times=None))
    held = connection(proxy)
    assert silent(held, "/one")
    assert upstream.calls() == []
    proxy.clear_rules()
    assert held.sock is not None
    with pytest.raises(TimeoutError):  # a connection frozen stays so: still nothing, not even a close
        held.sock.recv(1)
    fresh = connection(proxy)
    fresh.request("GET", "/three")
    assert fresh.getresponse().status == 200
    held.close()
    fresh.close()


def test_drop_response_applies_upstream_but_client_sees_an_error(any_proxy, upstream):
    proxy = any_proxy
    client = pool(proxy)
    proxy.add_rule(Rule(drop_response(), method="POST"))
    with pytest.raises(urllib3.exceptions.ProtocolError):
        client.request("POST", proxy.url + "/api/v1/namespaces", body=b'{"kind":"Namespace"}')
    assert upstream.calls() == [("POST", "/api/v1/namespaces")]
    assert proxy.requests == [Seen("POST", "/api/v1/namespaces", "drop_response")]


def test_times_then_spent(proxy, upstream, client):
    rule = proxy.add_rule(Rule(Status(503), method="patch", path=r"/deployments/web$", times=2))
    assert client.request("GET", proxy.url + DEPLOYMENT).status == 200  # another method: not matched, not used
    assert client.request("PATCH", proxy.url + DEPLOYMENT + "-2", body=b"{}").status == 200  # another path
    assert [client.request("PATCH", proxy.url + DEPLOYMENT, body=b"{}").status for _ in range(3)] == [503, 503, 200]
    assert rule.used == 2 and rule.spent
    assert len(upstream.calls()) == 3


def test_first_live_rule_wins_and_none_means_forever(proxy, client):
    proxy.add_rule(Rule(Status(500), times=1))
    proxy.add_rule(Rule(Status(503), times=None))
    assert [client.request("GET", proxy.url + "/x").status for _ in range(4)] == [500, 503, 503, 503]
    proxy.clear_rules()
    assert proxy.rules == []
    assert client.request("GET", proxy.url + "/x").status == 200


def test_request_log_count_and_reset(proxy, client):
    proxy.add_rule(Rule(Status(503), method="PATCH"))
    client.request("GET", proxy.url + DEPLOYMENT)
    client.request("PATCH", proxy.url + DEPLOYMENT + "?dryRun=All", body=b"{}")
    client.request("PATCH", proxy.url + DEPLOYMENT, body=b"{}")
    assert proxy.requests == [Seen("GET", DEPLOYMENT, 200), Seen("PATCH", DEPLOYMENT, 503, dry_run=True),
                              Seen("PATCH", DEPLOYMENT, 200)]
    method, path, outcome, dry_run = proxy.requests[1]
    assert (method, path, outcome, dry_run) == ("PATCH", DEPLOYMENT, 503, True)
    assert proxy.count() == 3
    assert proxy.count("PATCH", r"/deployments/web$") == 2
    proxy.reset_log()
    assert proxy.requests == [] and proxy.count() == 0


def test_upstream_down_is_502(upstream_cert):
    with FaultProxy("https://127.0.0.1:9", upstream_cert[0]) as dead:
        resp = pool(dead).request("GET", dead.url + "/x")
    assert resp.status == 502
    assert json.loads(resp.data)["kind"] == "Status"
    assert dead.requests == [Seen("GET", "/x", 502)]


def test_only_loopback_upstreams():
    with pytest.raises(ValueError):
        FaultProxy("https://192.0.2.1:6443", "ca.pem")
    with pytest.raises(ValueError):
        FaultProxy("http://127.0.0.1:6443", "ca.pem")


def test_bad_rules_fail_early():
    with pytest.raises(ValueError):
        Rule(reset(), times=0)
    with pytest.raises(re.error):
        Rule(reset(), path="(")


def test_kubeconfig_for(any_proxy):
    proxy = any_proxy
    text = kubeconfig_for(proxy, "tok", namespace="ns1")
    assert f"server: {proxy.url}\n" in text
    assert "token: tok\n" in text and "namespace: ns1\n" in text
    assert "namespace" not in kubeconfig_for(proxy, "tok")
    if proxy.tls:
        assert proxy.url.startswith("https://127.0.0.1:")
        assert f"certificate-authority: {proxy.ca_file}\n" in text
        assert Path(proxy.ca_file).is_file()
    else:
        assert proxy.url.startswith("http://127.0.0.1:")
        assert proxy.ca_file is None and "certificate-authority" not in text


def test_stop_removes_the_certificate(upstream, upstream_cert):
    proxy = FaultProxy(f"https://127.0.0.1:{upstream.server_address[1]}", upstream_cert[0]).start()
    cert = proxy.ca_file
    assert cert and Path(cert).is_file()
    proxy.stop()
    assert proxy.ca_file is None and not Path(cert).exists()
