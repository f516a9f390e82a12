"""Recording stand-ins for what a kubeconfig makes a client talk to, for the kubeconfig differential test.

- `Certs`: a throwaway PKI made with the openssl CLI (EC keys, instant): a server CA, a second CA that signs nothing
  the servers present, a client CA, server certificates with chosen names, client certificates with chosen subjects.
- `RecordingServer`: an HTTPS (or plain HTTP) API server on a local address that records, per request, the SNI, the
  path, Authorization, the client certificate's subject and the Impersonate-* headers, and answers just enough
  discovery (legacy /api, /apis, /apis/apps/v1) for kubectl to ask for a namespaced Deployment, which is a 404.
- `ConnectProxy`: an HTTP CONNECT proxy that records each tunnel's target and Proxy-Authorization.
- `Socks5Proxy`: a SOCKS5 proxy (RFC 1928, user/password RFC 1929) that records target and credentials.

Both proxies tunnel every target to the same port on `upstream_host` (127.0.0.1 by default), so a server name that
does not resolve (api.example.test) still reaches the local recorder. Nothing here leaves the machine.
"""

from __future__ import annotations

import json
import select
import socket
import socketserver
import ssl
import struct
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List, Optional

DISCOVERY = {
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:443"}]},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]},
    "/apis/apps/v1": {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1", "resources": [
        {"name": "deployments", "singularName": "deployment", "namespaced": True, "kind": "Deployment",
         "verbs": ["get", "list"], "shortNames": ["deploy"]}]},
}


class Certs:
    """A throwaway PKI in `folder`: `ca` signs the servers, `other_ca` signs nothing they present, `client_ca`
    signs client certificates."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.ca = self._self_signed("server-ca")
        self.other_ca = self._self_signed("other-ca")
        self.client_ca = self._self_signed("client-ca")

    def _openssl(self, *args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    def _self_signed(self, name: str) -> str:
        crt, key = str(self.folder / f"{name}.crt"), str(self.folder / f"{name}.key")
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-days", "2", "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign", "-keyout", key, "-out", crt)
        return crt

    def issue(self, name: str, subject: str, ca: str, server_names: tuple = ()) -> tuple:
        """A certificate (and its key) for `subject` signed by `ca`; with `server_names` (DNS names and IPs) a server
        certificate, else a client one."""
        crt, key, csr = (str(self.folder / f"{name}.{ext}") for ext in ("crt", "key", "csr"))
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-subj", subject, "-keyout", key, "-out", csr)
        ext = self.folder / f"{name}.ext"
        if server_names:
            alt = ",".join(("IP:" if _is_ip(n) else "DNS:") + n for n in server_names)
            ext.write_text(f"subjectAltName={alt}\nextendedKeyUsage=serverAuth\n")
        else:
            ext.write_text("extendedKeyUsage=clientAuth\n")
        self._openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca[:-4] + ".key", "-CAcreateserial",
                      "-days", "2", "-extfile", str(ext), "-out", crt)
        return crt, key


def _is_ip(name: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in name else socket.AF_INET, name)
        return True
    except OSError:
        return False


def local_non_loopback_ipv4() -> Optional[str]:
    """This machine's address on its default route (no packet is sent), for the proxy cases that need a host that
    is not loopback (Go never proxies loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


class _Threaded:
    """start()/stop() and a thread-safe log for the servers below."""

    _server: socketserver.BaseServer

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: List[dict] = []
        self._thread: Optional[threading.Thread] = None

    def record(self, entry: dict) -> None:
        with self._lock:
            self._log.append(entry)

    @property
    def log(self) -> List[dict]:
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        with self._lock:
            self._log.clear()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self):
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class RecordingServer(_Threaded):
    """An API server stand-in on `host` serving `cert`/`key` (plain HTTP without them), asking for (not requiring)
    a client certificate signed by `client_ca`."""

    def __init__(self, name: str, host: str = "127.0.0.1", cert: Optional[str] = None, key: Optional[str] = None,
                 client_ca: Optional[str] = None):
        super().__init__()
        self.name = name
        self.tls = cert is not None
        self._server = _HTTPServer((host, 0), _RecordingHandler)
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            if client_ca:
                context.load_verify_locations(client_ca)
                context.verify_mode = ssl.CERT_OPTIONAL

            def remember_sni(sock, server_name, _context):
                sock.sni = server_name

            context.sni_callback = remember_sni
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True,
                                                      do_handshake_on_connect=False)

    def url(self, host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


class _RecordingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        subject = None
        if isinstance(self.connection, ssl.SSLSocket):
            peer = self.connection.getpeercert()
            if peer:
                subject = ",".join(f"{k}={v}" for rdn in peer.get("subject", ()) for k, v in rdn)
        self.server.owner.record({
            "server": self.server.owner.name, "path": path, "sni": getattr(self.connection, "sni", None),
            "authorization": self.headers.get("Authorization"), "client": subject,
            "impersonation": tuple((k.lower(), v) for k, v in self.headers.items()
                                   if k.lower().startswith("impersonate-")),
        })
        prefix = next((p for p in ("/prefix",) if path.startswith(p + "/")), "")
        body = DISCOVERY.get(path[len(prefix):])
        status = 200 if body else 404
        if body is None:
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
                    "message": f"recorder: nothing at {path}"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _relay(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 30)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (b if sock is a else a).sendall(data)
    except OSError:
        return


def _upstream(host: str, fallback: str) -> str:
    """An IP target is reached as such; a name (which need not resolve) is reached on the fallback address."""
    host = host.strip("[]")
    return host if _is_ip(host) else fallback


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ConnectProxy(_Threaded):
    """An HTTP CONNECT proxy on 127.0.0.1; records {"target", "proxy_authorization"} per tunnel."""

    def __init__(self, name: str = "http-proxy", upstream_host: str = "127.0.0.1"):
        super().__init__()
        self.name = name
        self.upstream_host = upstream_host
        self._server = _TCPServer(("127.0.0.1", 0), _ConnectHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class _ConnectHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        owner: ConnectProxy = self.server.owner
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target = lines[0].split(" ")[:2]
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
        owner.record({"proxy": owner.name, "method": method, "target": target,
                      "proxy_authorization": headers.get("proxy-authorization")})
        if method != "CONNECT":
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        try:
            upstream = socket.create_connection((_upstream(host, owner.upstream_host), int(port)), timeout=10)
        except OSError:
            self.request.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        with upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _relay(self.request, upstream)


class Socks5Proxy(_Threaded):
    """A SOCKS5 proxy on 127.0.0.1 requiring `username`/`password` when given; records {"target", "username",
    "password"} per connection."""

    def __init__(self, name: str = "socks-proxy", username: Optional[str] = None, password: Optional[str] = None,
                 upstream_host: str = "127.0.0.1"):
        super().__init__()
        self.name = name
        self.username = username
        self.password = password
        self.upstream_host = upstream_host
        self._server = _TCPServer(("127.0.0.1", 0), _SocksHandler)


class _SocksHandler(socketserver.BaseRequestHandler):
    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    def handle(self) -> None:
        owner: Socks5Proxy = self.server.owner
        try:
            version, count = self._read(2)
            methods = self._read(count)
            wanted = 0x02 if owner.username is not None else 0x00
            if version != 5 or wanted not in methods:
                self.request.sendall(b"\x05\xff")
                return
            self.request.sendall(bytes([5, wanted]))
            username = password = None
            if wanted == 0x02:
                _, ulen = self._read(2)
                username = self._read(ulen).decode()
                (plen,) = self._read(1)
                password = self._read(plen).decode()
                ok = (username, password) == (owner.username, owner.password)
                self.request.sendall(b"\x01\x00" if ok else b"\x01\x01")
                if not ok:
                    return
            _, command, _, atyp = self._read(4)
            if atyp == 1:
                host = socket.inet_ntoa(self._read(4))
            elif atyp == 3:
                host = self._read(self._read(1)[0]).decode()
            else:
                host = socket.inet_ntop(socket.AF_INET6, self._read(16))
            (port,) = struct.unpack("!H", self._read(2))
            owner.record({"proxy": owner.name, "target": f"{host}:{port}", "username": username,
                          "password": password})
            upstream = socket.create_connection((_upstream(host, owner.upstream_host), port), timeout=10)
        except (ConnectionError, OSError):
            return
        with upstream:
            self.request.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", port))
            _relay(self.request, upstream)


EXEC_PLUGIN = """\
import json, os, sys
log = os.environ["CRED_LOG"]
with open(log, "a") as f:
    f.write(json.dumps({"command": os.path.realpath(sys.argv[0]), "argv": sys.argv[1:],
                        "info": json.loads(os.environ.get("KUBERNETES_EXEC_INFO", "null"))}) + "\\n")
status = {}
if os.environ.get("CRED_TOKEN"):
    status["token"] = os.environ["CRED_TOKEN"]
if os.environ.get("CRED_CERT"):
    status["clientCertificateData"] = open(os.environ["CRED_CERT"]).read()
    status["clientKeyData"] = open(os.environ["CRED_KEY"]).read()
if os.environ.get("CRED_EXPIRY"):
    status["expirationTimestamp"] = os.environ["CRED_EXPIRY"]
api_version = json.loads(os.environ["KUBERNETES_EXEC_INFO"])["apiVersion"]
print(json.dumps({"apiVersion": api_version, "kind": "ExecCredential", "status": status}))
"""


def write_exec_plugin(path: Path, python: str) -> str:
    """An executable credential plugin that logs its argv and KUBERNETES_EXEC_INFO (one JSON line per run, to the
    file in $CRED_LOG) and answers the token ($CRED_TOKEN) or certificate ($CRED_CERT, $CRED_KEY) it is given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{python}\n" + EXEC_PLUGIN)
    path.chmod(0o755)
    return str(path)


def read_log(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

