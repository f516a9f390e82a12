"""What kube.Kube puts on the wire for each write, in the mode it is bound to (dry runs are checked here, in the one
seam, not by each step), against a tiny recording HTTP server on loopback.

The API server takes a DELETE's options from its body when it has one, ignoring the query (handlers/delete.go): a
dry run must therefore be in the body, or the object is deleted for real. Patches and creates carry no options
body, so there the query is what the server reads."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator, List

import pytest

from kubectl_rollback.errors import RollbackError
from kubectl_rollback.kube import DEPLOYMENTS, EVENTS, PODS, ConnectionOptions, Kube, _reach_flags
from kubectl_rollback.kubeconfig import Connection
from kubectl_rollback.options import DryRun


class _Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Answer)
        self.seen: List[dict] = []
        self.answers: List[dict] = []  # answered in turn, before the default Status


class _Answer(BaseHTTPRequestHandler):
    server: _Recorder

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        self.server.seen.append({"method": self.command, "path": url.path,
                                 "query": dict(urllib.parse.parse_qsl(url.query)),
                                 "body": json.loads(body) if body else None})
        answer = json.dumps(self.server.answers.pop(0) if self.server.answers else {"kind": "Status"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_DELETE = do_GET = do_PATCH = do_POST = _record


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    server = _Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def kube(recorder: _Recorder) -> Kube:
    host, port = recorder.server_address[:2]
    return Kube(Connection(server=f"http://{host}:{port}", namespace="ns", cluster_name="c"), request_timeout=5)


@pytest.mark.parametrize("dry_run", [True, False])
def test_delete_carries_dry_run_in_its_options_body(kube: Kube, recorder: _Recorder, dry_run: bool) -> None:
    kube.bound_to(DryRun.SERVER if dry_run else DryRun.NONE).delete(DEPLOYMENTS, "web-canary", uid="u1")
    [seen] = recorder.seen
    assert seen["method"] == "DELETE"
    assert seen["body"]["preconditions"] == {"uid": "u1"}
    assert seen["body"].get("dryRun") == (["All"] if dry_run else None)
    assert seen["query"].get("dryRun") == ("All" if dry_run else None)


@pytest.mark.parametrize("dry_run", [True, False])
def test_patch_and_create_carry_dry_run_in_the_query(kube: Kube, recorder: _Recorder, dry_run: bool) -> None:
    bound = kube.bound_to(DryRun.SERVER if dry_run else DryRun.NONE)
    bound.patch(DEPLOYMENTS, "web", {"metadata": {"resourceVersion": "1"}})
    bound.patch(DEPLOYMENTS, "web", {"metadata": {"name": "web"}}, "apply", field_manager="m")
    bound.in_namespace("other").create(EVENTS, {"metadata": {"name": "e"}})
    assert [s["method"] for s in recorder.seen] == ["PATCH", "PATCH", "POST"]
    for seen in recorder.seen:
        assert seen["query"].get("dryRun") == ("All" if dry_run else None)


def test_a_client_dry_run_sends_no_write_and_reads_as_usual(kube: Kube, recorder: _Recorder) -> None:
    client = kube.bound_to(DryRun.CLIENT)
    for write in (lambda: client.patch(DEPLOYMENTS, "web", {}), lambda: client.create(EVENTS, {}),
                  lambda: client.delete(DEPLOYMENTS, "web")):
        with pytest.raises(RollbackError, match="not sent, this is a client-side dry run"):
            write()
    assert recorder.seen == []
    client.get(DEPLOYMENTS, "web")
    assert [s["method"] for s in recorder.seen] == ["GET"]


def test_binding_never_loosens_the_mode(kube: Kube, recorder: _Recorder) -> None:
    assert kube.bound_to(DryRun.SERVER).bound_to(DryRun.NONE).dry_run is DryRun.SERVER
    assert kube.bound_to(DryRun.CLIENT).bound_to(DryRun.SERVER).dry_run is DryRun.CLIENT
    assert kube.bound_to(DryRun.NONE).dry_run is DryRun.NONE


def test_lists_from_the_cache_ask_for_version_0_on_their_first_page_only(kube: Kube, recorder: _Recorder) -> None:
    recorder.answers = [{"items": [{"n": 1}], "metadata": {"continue": "next"}}, {"items": [{"n": 2}]}]
    assert list(kube.from_cache().iter_list(PODS, label_selector="app=web")) == [{"n": 1}, {"n": 2}]
    first, then = (seen["query"] for seen in recorder.seen)
    assert first == {"limit": "500", "resourceVersion": "0", "labelSelector": "app=web"}
    assert then == {"limit": "500", "labelSelector": "app=web", "continue": "next"}  # the token carries the version
    recorder.seen.clear()
    kube.list(PODS)
    [seen] = recorder.seen
    assert "resourceVersion" not in seen["query"]  # a consistent read, unless asked otherwise


def test_a_refused_connection_fails_at_once_in_one_line():
    import socket
    import time

    from kubectl_rollback.errors import ApiError

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    kube = Kube(Connection(server=f"http://127.0.0.1:{port}", namespace="ns", cluster_name="c"), request_timeout=5)
    started = time.monotonic()
    with pytest.raises(ApiError) as raised:
        kube.get(DEPLOYMENTS, "web")
    assert time.monotonic() - started < 0.5  # no retries: it would be refused again
    assert "cannot reach the API server" in raised.value.message and "attempts" not in raised.value.message
    assert raised.value.message.count("(") == raised.value.message.count(")")


def test_a_read_timeout_is_retried_and_said_with_balanced_parentheses():
    import socket

    from kubectl_rollback.errors import ApiError

    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        kube = Kube(Connection(server=f"http://127.0.0.1:{port}", namespace="ns", cluster_name="c"),
                    request_timeout=0.05)
        with pytest.raises(ApiError) as raised:
            kube.get(DEPLOYMENTS, "web")
    message = raised.value.message
    assert "timed out" in message and "(gave up after 5 attempts)" in message, message
    assert message.count("(") == message.count(")"), message


@pytest.mark.parametrize("typed, quiet, warned", [(False, False, True), (True, False, False), (False, True, False)])
def test_tls_off_is_said_once_unless_typed_or_completing(tmp_path, capsys, typed, quiet, warned):
    from kubectl_rollback.kube import ConnectionOptions
    from kubectl_rollback.kubeconfig import Overrides

    config = tmp_path / "config"
    config.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    options = ConnectionOptions(kubeconfig=str(config), overrides=Overrides(insecure_skip_tls_verify=typed))
    Kube.connect(options, quiet=quiet).in_namespace("other")
    said = capsys.readouterr().err
    assert said.count("TLS verification is off") == (1 if warned else 0), said


def test_printed_commands_reach_the_same_cluster_from_any_folder(tmp_path, monkeypatch):
    """The flags a printed command (resume, rollout status, kubectl annotate) carries: the kubeconfig as an absolute
    path, so that the command works when copied into another folder."""
    monkeypatch.chdir(tmp_path)
    options = ConnectionOptions(kubeconfig="ctx.yaml", context="admin")
    assert _reach_flags(options) == ("--kubeconfig", str(tmp_path / "ctx.yaml"), "--context", "admin")


def test_a_certificate_authority_that_cannot_be_read_is_said_whole_and_points_at_the_context(tmp_path):
    import socket

    from kubectl_rollback.errors import ApiError

    garbage = tmp_path / "ca.crt"
    garbage.write_text("not a certificate\n")
    with socket.socket() as listening:  # the TLS handshake never starts: the CA file is read first
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        port = listening.getsockname()[1]
        kube = Kube(Connection(server=f"https://127.0.0.1:{port}", namespace="ns", cluster_name="c",
                               ca_file=str(garbage)), request_timeout=5)
        with pytest.raises(ApiError) as raised:
            kube.get(DEPLOYMENTS, "web")
    message = raised.value.message
    assert "([X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found)" in message, message
    assert "check the certificate authority of the context" in message and "cluster is up" not in message, message
