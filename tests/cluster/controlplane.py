"""Start and stop a real control plane on loopback: etcd, kube-apiserver and kube-controller-manager.

KHR_K8S_VERSION (make's K8S) chooses the server version: 1.35 (the default, what users run) or 1.20 (the oldest
supported); tests/cluster/build.sh builds each into its own folder.

Everything lives in one work folder (data, certificates, kubeconfigs, logs). RBAC is on; two users exist: `admin`
(group system:masters) and `limited` (no groups), each with a kubeconfig. Only the processes started here are
ever stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from tests.cluster.api import Api, ApiFailure

# resourcequota: a ResourceQuota's status.used, without which its admission plugin refuses every pod ("status unknown").
CONTROLLERS = "deployment,replicaset,statefulset,daemonset,garbagecollector,namespace,endpoint,resourcequota"
ADMIN_TOKEN = "admin-token-for-tests-only"
LIMITED_TOKEN = "limited-token-for-tests-only"
# Documentation ranges: no traffic ever goes to them (RFC 5737).
SERVICE_CIDR = "198.51.100.0/24"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
SERVER_VERSIONS = ("1.35", "1.20")  # the default first
OLDEST_SERVER = "1.20"

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
"""


def sigterm_as_interrupt() -> None:
    """Treat SIGTERM like Ctrl-C, so that a killed test run or `make cluster` still stops the processes it started
    (they run in their own session, so the signal does not reach them)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def server_version() -> str:
    """The Kubernetes minor version the test cluster runs (KHR_K8S_VERSION, default 1.35)."""
    version = os.environ.get("KHR_K8S_VERSION") or SERVER_VERSIONS[0]
    if version not in SERVER_VERSIONS:
        raise RuntimeError(f"KHR_K8S_VERSION={version}: supported server versions are {', '.join(SERVER_VERSIONS)}")
    return version


def on_oldest_server() -> bool:
    return server_version() == OLDEST_SERVER


def cache_root() -> Path:
    """Where tests/cluster/build.sh keeps what it builds and downloads (its CACHE_ROOT)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "kubectl-harness-rollback"


def go_cache() -> Path:
    """build.sh's Go module and build caches (KHR_GO_CACHE overrides it there too)."""
    return Path(os.environ.get("KHR_GO_CACHE") or cache_root() / "go")


def bin_dir() -> Path:
    explicit = os.environ.get("KHR_TESTENV_BIN")
    if explicit:
        return Path(explicit)
    return cache_root() / "testenv" / server_version() / "bin"


def missing_binaries() -> list:
    return [b for b in BINARIES if not os.access(bin_dir() / b, os.X_OK)]


def terminate(proc: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM, as a kubelet or Ctrl-C would stop it; SIGKILL if it has not exited within `grace` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ControlPlane:
    def __init__(self, workdir: Path, audit: bool = False, etcd_url: Optional[str] = None,
                 etcd_prefix: str = "/registry"):
        """`etcd_url`: another control plane's etcd, which this one shares under its own `etcd_prefix` (a second
        cluster on one machine, for the runs across contexts); None: an etcd of its own."""
        self.workdir = Path(workdir)
        self.etcd_url = etcd_url
        self.etcd_prefix = etcd_prefix
        self.bin = bin_dir()
        self.audit = audit
        self.processes: dict = {}
        self.server = ""
        self.ca_file = str(self.workdir / "certs" / "apiserver.crt")
        self.admin_kubeconfig = str(self.workdir / "admin.kubeconfig")
        self.limited_kubeconfig = str(self.workdir / "limited.kubeconfig")
        self.audit_log = str(self.workdir / "audit.log")

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> ControlPlane:
        missing = missing_binaries()
        if missing:
            raise RuntimeError(
                f"test cluster binaries missing from {self.bin}: {', '.join(missing)}; "
                "build them with `make testenv` (tests/cluster/build.sh)"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            if self.etcd_url is None:
                self._start_etcd()
            self._start_apiserver()
            self._write_kubeconfigs()
            self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            proc = self.processes.pop(name)
            terminate(proc)

    def serve_until_interrupted(self) -> None:
        """Keep the control plane up until Ctrl-C, or until one of its processes dies (then say why)."""
        try:
            while all(p.poll() is None for p in self.processes.values()):
                time.sleep(1)
            print("a control-plane process exited:\n" + self.log_tail(), file=sys.stderr)
        except KeyboardInterrupt:
            pass

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def admin_api(self) -> Api:
        return Api(self.server, ADMIN_TOKEN, self.ca_file)

    def limited_api(self) -> Api:
        return Api(self.server, LIMITED_TOKEN, self.ca_file)

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for name in ("etcd", "kube-apiserver", "kube-controller-manager"):
            path = self.workdir / f"{name}.log"
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {name}.log (last {len(text)} lines) ---\n" + "\n".join(text))
        return "\n".join(out)

    # -- processes ---------------------------------------------------------------------------------------------

    def _spawn(self, name: str, args: list) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [str(self.bin / name)] + args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop them in order
        )
        log.close()
        self.processes[name] = proc
        return proc

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        self._spawn(
            "etcd",
            [
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--log-level=warn",
            ],
        )
        self._wait_for(lambda: _http_ok(self.etcd_url + "/health"), "etcd", 30)

    def _start_apiserver(self) -> None:
        certs = self.workdir / "certs"
        certs.mkdir(exist_ok=True)
        sa_key = self.workdir / "sa.key"
        if not sa_key.exists():
            subprocess.run(
                ["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True
            )
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(
            f'{ADMIN_TOKEN},admin,admin-uid,"system:masters"\n{LIMITED_TOKEN},limited,limited-uid\n'
        )
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        args = [
            f"--etcd-servers={self.etcd_url}",
            f"--etcd-prefix={self.etcd_prefix}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={certs}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={sa_key}",
            f"--service-account-signing-key-file={sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--disable-admission-plugins=ServiceAccount",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
        ]
        if on_oldest_server():
            args.append("--insecure-port=0")  # 1.20 serves plain HTTP on 8080 unless told not to (gone in 1.24)
        if self.audit:
            policy = self.workdir / "audit-policy.yaml"
            policy.write_text(AUDIT_POLICY)
            args += [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}"]
        self._spawn("kube-apiserver", args)
        # Whole, not just there: kube-apiserver writes its self-signed certificate in place, and a CA file read half
        # written fails the first TLS set-up (NO_CERTIFICATE_OR_CRL_FOUND, seen once under load).
        self._wait_for(lambda: Path(self.ca_file).exists() and b"-----END CERTIFICATE-----" in Path(self.ca_file)
                       .read_bytes(), "kube-apiserver certificates", 60)
        api = self.admin_api()
        self._wait_for(lambda: _api_ok(api, "/readyz"), "kube-apiserver /readyz", 90)

    def _start_controller_manager(self) -> None:
        args = [
            f"--kubeconfig={self.admin_kubeconfig}",
            f"--controllers={CONTROLLERS}",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            "--secure-port=0",
            "--concurrent-deployment-syncs=10",
        ]
        if on_oldest_server():
            args.append("--port=0")  # 1.20's plain-HTTP port, gone in 1.24
        self._spawn("kube-controller-manager", args)

    def _write_kubeconfigs(self) -> None:
        for path, user, token in (
            (self.admin_kubeconfig, "admin", ADMIN_TOKEN),
            (self.limited_kubeconfig, "limited", LIMITED_TOKEN),
        ):
            Path(path).write_text(kubeconfig_text(self.server, self.ca_file, user, token))

    def _wait_for(self, ready, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode} while waiting for {what}\n"
                                       + self.log_tail())
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{what} not ready after {timeout}s\n" + self.log_tail())


def kubeconfig_text(server: str, ca_file: str, user: str, token: str, namespace: Optional[str] = None,
                    cluster: str = "test-cluster") -> str:
    ns = f"\n    namespace: {namespace}" if namespace else ""
    return f"""apiVersion: v1
kind: Config
clusters:
- name: {cluster}
  cluster:
    server: {server}
    certificate-authority: {ca_file}
users:
- name: {user}
  user:
    token: {token}
contexts:
- name: {user}
  context:
    cluster: {cluster}
    user: {user}{ns}
current-context: {user}
"""


def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _api_ok(api: Api, path: str) -> bool:
    try:
        return api.request("GET", path, timeout=2, parse=False).strip() == "ok"
    except (ApiFailure, OSError):
        return False
