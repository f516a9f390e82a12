"""A fault-injecting HTTP proxy in front of the test kube-apiserver, loopback only.

By default the proxy serves HTTPS on `https://127.0.0.1:PORT` with a throwaway self-signed certificate made with the
openssl CLI (`proxy.ca_file`). It has to: kubectl (client-go's clientcmd) silently drops the kubeconfig's user
credentials, bearer token included, when the server is http://, so behind a plain-HTTP proxy kubectl would talk to
the apiserver as system:anonymous. `tls=False` serves plain HTTP instead, which is enough for the plugin's own
urllib3 client (it does send the token) and for raw HTTP tests. Either way, every request is forwarded to the
upstream over HTTPS, verified against the upstream's CA, unless a rule says otherwise:

    with FaultProxy(plane.server, plane.ca_file) as proxy:
        proxy.add_rule(Rule(status(503, retry_after=1), method="PATCH", path=r"/deployments/web$", times=2))
        proxy.add_rule(Rule(drop_response(), method="PATCH"))      # the server applies it, the client never hears
        Path(kc).write_text(kubeconfig_for(proxy, ADMIN_TOKEN, namespace))
        ...
        assert proxy.count("PATCH") == 4

`freeze_connections()` makes every open connection go silent (a watch stream forwards nothing more, a keep-alive
connection answers nothing), kept open with no FIN or RST, as a path that died without a close; a `freeze()` rule
does the same to the connections that send matching requests, so `Rule(freeze(), times=None)` lets nothing through.
Frozen connections stay so until the proxy stops: the client has to notice and give up on them.

Rules are tried in the order they were added; the first live one that matches a request applies to it (one rule per
request) and uses up one of its `times`. Paths are matched (re.search) without the query string.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO, List, NamedTuple, Optional, Pattern, Set, Union

# -- actions -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Sleep, then forward as usual."""

    seconds: float


@dataclass(frozen=True)
class Status:
    """Answer with a Kubernetes Status error without forwarding (the server never sees the request)."""

    code: int
    retry_after: Optional[int] = None  # seconds, sent as the Retry-After header (and details.retryAfterSeconds)
    message: Optional[str] = None
    reason: Optional[str] = None  # defaults from the code, as the apiserver would pick it


@dataclass(frozen=True)
class Reset:
    """Close the client connection with a TCP RST without answering (the server never sees the request)."""


@dataclass(frozen=True)
class DropResponse:
    """Forward the request (the server applies it), then reset the client connection: the ambiguous write."""


@dataclass(frozen=True)
class Freeze:
    """Never answer, and freeze the connection (nothing forwarded on it again, nothing closed) until the proxy stops."""


Action = Union[Latency, Status, Reset, DropResponse, Freeze]


def latency(seconds: float) -> Latency:
    return Latency(seconds)


def status(code: int, retry_after: Optional[int] = None, message: Optional[str] = None) -> Status:
    return Status(code, retry_after, message)


def reset() -> Reset:
    return Reset()


def drop_response() -> DropResponse:
    return DropResponse()


def freeze() -> Freeze:
    return Freeze()


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass
class Rule:
    """Apply `action` to the next `times` requests (None: all of them) whose method and path match."""

    action: Action
    method: str = "*"  # an HTTP method, or "*" for any
    path: str = ""  # a regex searched in the request path without the query; "" matches every path
    times: Optional[int] = 1
    dry_runs: bool = True  # False: requests sent with dryRun=All (a rollback's pre-flight) pass untouched
    used: int = field(default=0, init=False)  # how many requests it has applied to so far
    _pattern: Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 1:
            raise ValueError(f"times must be >= 1 or None, not {self.times}")
        self.method = self.method.upper()
        self._pattern = re.compile(self.path)  # compiled now so that a bad regex fails in the test, not in a thread

    @property
    def spent(self) -> bool:
        return self.times is not None and self.used >= self.times

    def matches(self, method: str, path: str, dry_run: bool = False) -> bool:
        return (self.method in ("*", method.upper()) and self._pattern.search(path) is not None
                and (self.dry_runs or not dry_run))


class Seen(NamedTuple):
    """One request the proxy received: the status it answered, or the name of the action that cut it off."""

    method: str
    path: str  # without the query string
    outcome: Union[int, str]  # an HTTP status (forwarded or injected), "reset", "drop_response" or "frozen"
    dry_run: bool = False  # sent with dryRun=All


# -- the proxy ---------------------------------------------------------------------------------------------------

# Per-connection headers (RFC 9110 section 7.6.1) are not forwarded; the lengths are recomputed on each side.
_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
    "transfer-encoding", "upgrade", "expect", "host", "content-length",
}


class FaultProxy:
    """A threaded proxy on 127.0.0.1 (HTTPS, or plain HTTP when not `tls`) forwarding to `upstream` (an https://
    loopback URL) verified with `ca_file`, and injecting the faults its rules describe. Use start()/stop() or `with`;
    `url` and, with TLS, `ca_file` (the proxy's own certificate, to trust) exist once started."""

    def __init__(self, upstream: str, ca_file: str, tls: bool = True, upstream_timeout: float = 120.0):
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"upstream must be an https:// URL, not {upstream!r}")
        if not _is_loopback(parts.hostname):
            raise ValueError(f"upstream must be on loopback, not {parts.hostname}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 443
        self.upstream_timeout = upstream_timeout
        self.tls = tls
        self.ca_file: Optional[str] = None
        self._ssl = ssl.create_default_context(cafile=ca_file)
        self._cert_dir: Optional[str] = None
        self._lock = threading.Lock()
        self._rules: List[Rule] = []
        self._log: List[Seen] = []
        self._clients: Set[socket.socket] = set()
        self._frozen: Set[socket.socket] = set()
        self._stopping = threading.Event()  # releases the handler threads holding frozen connections
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle

    def start(self) -> FaultProxy:
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.proxy = self
        if self.tls:
            try:
                context = self._server_tls()
            except BaseException:
                server.server_close()
                raise
            # The handshake is deferred to the first read, which happens in the connection's own handler thread:
            # a client stalling or failing its handshake must not hold up accept() for everyone else.
            server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        # A short poll interval keeps stop() quick: shutdown() waits for the serving loop to notice.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="faultproxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        # Handler threads idling on keep-alive connections would otherwise linger until their clients go away.
        self.cut_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        if self._cert_dir is not None:
            shutil.rmtree(self._cert_dir, ignore_errors=True)
            self._cert_dir = None
            self.ca_file = None

    def cut_connections(self) -> int:
        """Shut every client connection down now (open watch streams included), as a restarting API server or a
        dropped network path would; returns how many were cut. New connections are served as usual."""
        with self._lock:
            clients = list(self._clients)
        for sock in clients:
            try:
                # The plain socket's shutdown, even on a TLS socket: SSLSocket.shutdown would also drop its SSL
                # object under the feet of the handler thread reading from it.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass
        return len(clients)

    def freeze_connections(self) -> int:
        """Freeze every open client connection (see the module's doc); returns how many. New ones are served."""
        with self._lock:
            self._frozen |= self._clients
            return len(self._clients)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _server_tls(self) -> ssl.SSLContext:
        """A fresh self-signed certificate for 127.0.0.1; it is its own CA, so clients trust exactly this file."""
        self._cert_dir = tempfile.mkdtemp(prefix="faultproxy-")
        cert, key = os.path.join(self._cert_dir, "proxy.crt"), os.path.join(self._cert_dir, "proxy.key")
        # EC keys because they are made instantly, unlike RSA ones; both Go and OpenSSL clients accept them.
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "2", "-subj", "/CN=faultproxy", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", key, "-out", cert],
            check=True, capture_output=True,
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.ca_file = cert
        return context

    # -- rules and the request log

    def add_rule(self, rule: Rule) -> Rule:
        """Add a rule after the existing ones; returns it so that a test can look at `rule.used` later."""
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> List[Rule]:
        with self._lock:
            return list(self._rules)

    @property
    def requests(self) -> List[Seen]:
        """A snapshot of every request seen since the start (or the last reset_log), oldest first."""
        with self._lock:
            return list(self._log)

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    def count(self, method: str = "*", path: str = "") -> int:
        """How many logged requests match `method` ("*": any) and the `path` regex."""
        probe = Rule(Reset(), method, path)
        return sum(1 for seen in self.requests if probe.matches(seen.method, seen.path))

    # -- used by the handler threads

    def _take(self, method: str, path: str, dry_run: bool) -> Optional[Action]:
        with self._lock:
            for rule in self._rules:
                if not rule.spent and rule.matches(method, path, dry_run):
                    rule.used += 1
                    return rule.action
        return None

    def _record(self, method: str, path: str, outcome: Union[int, str], dry_run: bool = False) -> None:
        with self._lock:
            self._log.append(Seen(method, path, outcome, dry_run))

    def _track(self, sock: socket.socket, alive: bool) -> None:
        with self._lock:
            if alive:
                self._clients.add(sock)
            else:
                self._clients.discard(sock)
                self._frozen.discard(sock)

    def _freeze(self, sock: socket.socket) -> None:
        with self._lock:
            self._frozen.add(sock)

    def _is_frozen(self, sock: socket.socket) -> bool:
        with self._lock:
            return sock in self._frozen

    def _connect(self) -> http.client.HTTPSConnection:
        # A fresh upstream connection per request: a pooled one gone stale would force the proxy to decide whether
        # to resend, and that decision belongs to the client under test, not to the proxy.
        return http.client.HTTPSConnection(
            self.upstream_host, self.upstream_port, context=self._ssl, timeout=self.upstream_timeout
        )


def kubeconfig_for(proxy: FaultProxy, token: str, namespace: Optional[str] = None) -> str:
    """A kubeconfig for a bearer-token user whose server is the (started) proxy, trusting its certificate if TLS."""
    ns = f"\n    namespace: {namespace}" if namespace else ""
    ca = f"\n    certificate-authority: {proxy.ca_file}" if proxy.ca_file else ""
    return f"""apiVersion: v1
kind: Config
clusters:
- name: faultproxy
  cluster:
    server: {proxy.url}{ca}
users:
- name: faultproxy-user
  user:
    token: {token}
contexts:
- name: faultproxy
  context:
    cluster: faultproxy
    user: faultproxy-user{ns}
current-context: faultproxy
"""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a thread stuck in a long injected latency must not keep the test process alive
    proxy: FaultProxy

    def handle_error(self, request: object, client_address: object) -> None:
        # A client hanging up or failing the TLS handshake is routine here (resets are our trade); anything else is a
        # bug in the proxy and gets the usual traceback.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length or is chunked
    timeout = 300  # an idle keep-alive client connection is dropped after this, freeing its thread
    # Headers and body go out in separate writes; with Nagle on, the body would wait for the client's delayed ACK
    # (40 ms on Linux) on every answer, and the latency tests would measure that instead of the injected delay.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.proxy._track(self.connection, True)

    def finish(self) -> None:
        self.server.proxy._track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request log (proxy.requests) is the record; stderr noise would only clutter test output

    def _handle(self) -> None:
        # Each outcome is logged before the client can see it, so a test reading proxy.requests right after its
        # request returned (or failed) always finds that request there.
        proxy = self.server.proxy
        target = urllib.parse.urlsplit(self.path)
        path = target.path or "/"
        upstream_target = path + (f"?{target.query}" if target.query else "")
        dry_run = "dryRun=All" in target.query
        body = self._read_body()
        if proxy._is_frozen(self.connection):
            proxy._record(self.command, path, "frozen", dry_run)
            self._hold()
            return
        action = proxy._take(self.command, path, dry_run)
        if isinstance(action, Freeze):
            proxy._record(self.command, path, "frozen", dry_run)
            proxy._freeze(self.connection)
            self._hold()
        elif isinstance(action, Status):
            proxy._record(self.command, path, action.code, dry_run)
            self._send_status(action, path)
        elif isinstance(action, Reset):
            proxy._record(self.command, path, "reset", dry_run)
            self._reset()
        elif isinstance(action, DropResponse):
            proxy._record(self.command, path, "drop_response", dry_run)
            conn = proxy._connect()
            try:
                self._ask_upstream(conn, upstream_target, body).read()  # to the end: the server is done with it
            except (OSError, http.client.HTTPException):
                pass  # the client is cut off either way
            finally:
                conn.close()
                self._reset()
        else:
            if isinstance(action, Latency):
                time.sleep(action.seconds)
            conn = proxy._connect()
            try:
                try:
                    resp = self._ask_upstream(conn, upstream_target, body)
                except (OSError, http.client.HTTPException) as exc:
                    proxy._record(self.command, path, 502, dry_run)
                    failed = Status(502, message=f"faultproxy: upstream failed: {exc}", reason="InternalError")
                    self._send_status(failed, path)
                    return
                proxy._record(self.command, path, resp.status, dry_run)
                try:
                    self._relay(resp)
                except _Frozen:
                    self._hold()
            finally:
                conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def _read_body(self) -> Optional[bytes]:
        """The request body, or None when the request had none (so the upstream request has none either)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return _read_chunked(self.rfile)
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        return self.rfile.read(int(length))

    def _ask_upstream(
        self, conn: http.client.HTTPSConnection, target: str, body: Optional[bytes]
    ) -> http.client.HTTPResponse:
        """Send this request upstream with the client's own end-to-end headers; returns the response, body unread."""
        hop = self._hop_headers()
        conn.putrequest(self.command, target, skip_accept_encoding=True)
        for key, value in self.headers.items():
            if key.lower() not in hop:
                conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        return conn.getresponse()

    def _hop_headers(self) -> Set[str]:
        named = {h.strip().lower() for h in self.headers.get("Connection", "").split(",") if h.strip()}
        return _HOP_BY_HOP | named

    def _hold(self) -> None:
        """Keep a frozen connection open, sending nothing, until the proxy stops."""
        self.close_connection = True
        self.server.proxy._stopping.wait()

    def _unless_frozen(self) -> None:
        if self.server.proxy._is_frozen(self.connection):
            raise _Frozen

    def _relay(self, resp: http.client.HTTPResponse) -> None:
        """Pass the answer on; raises _Frozen, having sent nothing more, once the connection is frozen."""
        self._unless_frozen()
        self.send_response_only(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        try:
            if self.command == "HEAD" or resp.status in (204, 304):
                # No body follows; the upstream's Content-Length (describing the GET) is passed on as is.
                if resp.getheader("Content-Length") is not None:
                    self.send_header("Content-Length", resp.getheader("Content-Length"))
                self.end_headers()
            elif not resp.chunked and resp.length is not None:
                data = resp.read()
                self._unless_frozen()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                # Streamed (a watch) or close-delimited: pass chunks on as they arrive, re-chunked for keep-alive.
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while True:
                    data = resp.read1(65536)
                    self._unless_frozen()
                    if not data:
                        break
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            # Either side went away mid-answer: this client connection can carry nothing more.
            self.close_connection = True

    def _send_status(self, action: Status, path: str) -> None:
        message = action.message or f"faultproxy: injected {action.code} for {self.command} {path}"
        payload = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": action.reason if action.reason is not None else _REASONS.get(action.code, ""),
            "code": action.code,
        }
        if action.retry_after is not None:
            payload["details"] = {"retryAfterSeconds": action.retry_after}
        data = json.dumps(payload).encode()
        self.send_response_only(action.code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(data)))
        if action.retry_after is not None:
            self.send_header("Retry-After", str(action.retry_after))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        """Close the client connection with an RST: SO_LINGER 0, then really close the descriptor. A plain
        socket.close() would not close it while rfile/wfile hold references, and the server's own shutdown would
        send a FIN first, which the client would see as a clean end of stream."""
        self.close_connection = True
        sock = self.connection
        self.server.proxy._track(sock, False)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # detach() leaves the socket object closed (fileno -1), so nothing can touch a reused descriptor number later.
        os.close(sock.detach())


class _Frozen(Exception):
    """The client connection was frozen while an answer was being relayed."""


def _read_chunked(rfile: BinaryIO) -> bytes:
    parts = []
    while True:
        size = int(rfile.readline(65537).split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers, dropped
            return b"".join(parts)
        parts.append(rfile.read(size))
        rfile.readline()  # the CRLF after each chunk
