"""Where to connect and how to authenticate: kubeconfig (several files in KUBECONFIG, merged as kubectl merges
them), --context, exec credential plugins, or the in-cluster service account.

Reading a kubeconfig ourselves keeps the `kubernetes` package (about 0.7 s of imports) off the path of every
command; it is still used, through its own loader, for what this module does not implement (auth-provider
plugins such as legacy gcp/oidc), so any kubeconfig kubectl accepts works here too.
"""

from __future__ import annotations

import atexit
import base64
import dataclasses
import json
import os
import subprocess
import tempfile
from typing import Any, Callable, Optional

from kubectl_rollback.errors import RollbackError, UsageError

IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
EXEC_TIMEOUT_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class Connection:
    server: str
    namespace: str
    cluster_name: Optional[str]
    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    verify: bool = True
    tls_server_name: Optional[str] = None
    proxy: Optional[str] = None
    # The Authorization header value, asked for on every request so that short-lived credentials can refresh.
    authorization: Callable[[], Optional[str]] = lambda: None


def load(kubeconfig: Optional[str], context: Optional[str]) -> Connection:
    """As kubectl: --kubeconfig, else KUBECONFIG (several files), else ~/.kube/config, else in-cluster."""
    if kubeconfig and not os.path.exists(kubeconfig):
        raise UsageError(f"--kubeconfig {kubeconfig}: no such file")
    paths = [kubeconfig] if kubeconfig else _default_paths()
    existing = [p for p in paths if os.path.exists(p)]
    if not existing:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(os.path.join(IN_CLUSTER_DIR, "token")):
            return _in_cluster()
        raise UsageError(
            f"no kubeconfig found ({os.pathsep.join(paths)}) and not running in a cluster; "
            "pass --kubeconfig or set KUBECONFIG"
        )
    merged = _merge([(p, _read(p)) for p in existing])
    name = context or merged["current-context"]
    if not name:
        raise UsageError(f"the kubeconfig ({os.pathsep.join(existing)}) has no current context; pass --context")
    ctx = merged["contexts"].get(name)
    if ctx is None:
        names = ", ".join(sorted(merged["contexts"])) or "none"
        raise UsageError(f'context "{name}" does not exist in the kubeconfig (contexts: {names})')
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    cluster = merged["clusters"].get(cluster_name)
    if cluster is None:
        raise UsageError(f'context "{name}" names cluster "{cluster_name}", which the kubeconfig does not define')
    user = merged["users"].get(user_name) or {}
    namespace = ctx.get("namespace") or "default"
    if "auth-provider" in user:
        return _from_kubernetes_client(kubeconfig, name, namespace, cluster_name)
    return _connection(cluster, user, namespace, cluster_name, name)


def _default_paths() -> list:
    env = os.environ.get("KUBECONFIG")
    if env:
        return [p for p in env.split(os.pathsep) if p]
    return [os.path.join(os.path.expanduser("~"), ".kube", "config")]


def _read(path: str) -> dict:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read the kubeconfig {path}: {' '.join(str(exc).split())}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"cannot read the kubeconfig {path}: it is not a kubeconfig (a YAML mapping)")
    return data


def _merge(files: list) -> dict:
    """kubectl's merge: the first file to define a name (context, cluster, user) or current-context wins. Relative
    paths in an entry are resolved against the directory of the file that defined it."""
    merged: dict = {"current-context": None, "contexts": {}, "clusters": {}, "users": {}}
    for path, data in files:
        base = os.path.dirname(os.path.abspath(path))
        if not merged["current-context"]:
            merged["current-context"] = data.get("current-context") or None
        for section, key in (("contexts", "context"), ("clusters", "cluster"), ("users", "user")):
            for entry in data.get(section) or []:
                if isinstance(entry, dict) and entry.get("name") and entry["name"] not in merged[section]:
                    merged[section][entry["name"]] = dict(entry.get(key) or {}, _base=base)
    return merged


def _path(entry: dict, key: str) -> Optional[str]:
    value = entry.get(key)
    return os.path.join(entry["_base"], os.path.expanduser(value)) if value else None


def _connection(cluster: dict, user: dict, namespace: str, cluster_name: str, context: str) -> Connection:
    server = cluster.get("server")
    if not server:
        raise UsageError(f'cluster "{cluster_name}" in the kubeconfig has no server address')
    verify = not cluster.get("insecure-skip-tls-verify", False)
    cert_file, key_file = _path(user, "client-certificate"), _path(user, "client-key")
    if user.get("client-certificate-data"):
        cert_file = _data_file(user["client-certificate-data"], "client certificate")
    if user.get("client-key-data"):
        key_file = _data_file(user["client-key-data"], "client key")
    authorization = _static_authorization(user)
    if "exec" in user:
        plugin = _ExecPlugin(user["exec"], cluster, context)
        authorization = plugin.authorization
        cert_file, key_file = plugin.client_certificate() or (cert_file, key_file)
    ca_file = _path(cluster, "certificate-authority")
    if cluster.get("certificate-authority-data"):
        ca_file = _data_file(cluster["certificate-authority-data"], "certificate authority")
    return Connection(
        server=server.rstrip("/"),
        namespace=namespace,
        cluster_name=cluster_name,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        verify=verify,
        tls_server_name=cluster.get("tls-server-name"),
        proxy=cluster.get("proxy-url"),
        authorization=authorization,
    )


def _static_authorization(user: dict) -> Callable[[], Optional[str]]:
    token = user.get("token")
    token_file = _path(user, "tokenFile")
    if token_file and not token:

        def from_file() -> Optional[str]:  # re-read each time, as kubectl does: the file may be rotated
            try:
                with open(token_file, encoding="utf-8") as f:
                    return "Bearer " + f.read().strip()
            except OSError as exc:
                raise RollbackError(f"cannot read the token file {token_file}: {exc.strerror}") from None

        return from_file
    if token:
        return lambda: f"Bearer {token}"
    if user.get("username") is not None and user.get("password") is not None:
        basic = base64.b64encode(f"{user['username']}:{user['password']}".encode()).decode()
        return lambda: f"Basic {basic}"
    return lambda: None


class _ExecPlugin:
    """A client-go credential plugin (user.exec): run once per process, cached until it expires."""

    def __init__(self, spec: dict, cluster: dict, context: str):
        self.spec = spec
        self.cluster = cluster
        self.context = context
        self._status: Optional[dict] = None

    def _run(self) -> dict:
        if self._status is not None and not _expired(self._status.get("expirationTimestamp")):
            return self._status
        command = self.spec.get("command")
        if not command:
            raise UsageError(f'the exec credential plugin of context "{self.context}" has no command')
        api_version = self.spec.get("apiVersion", "client.authentication.k8s.io/v1beta1")
        info: dict = {"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
        if self.spec.get("provideClusterInfo"):
            info["spec"]["cluster"] = {"server": self.cluster.get("server"),
                                       "certificate-authority-data": self.cluster.get("certificate-authority-data")}
        env = dict(os.environ, KUBERNETES_EXEC_INFO=json.dumps(info))
        for item in self.spec.get("env") or []:
            env[item["name"]] = item.get("value", "")
        try:
            proc = subprocess.run([command, *(self.spec.get("args") or [])], env=env, capture_output=True,
                                  text=True, timeout=EXEC_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            hint = self.spec.get("installHint") or "check that it is installed and on PATH"
            raise RollbackError(f"cannot run the exec credential plugin {command!r}: {exc}; {hint}") from None
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RollbackError(f"the exec credential plugin {command!r} failed (exit {proc.returncode}): {last}")
        try:
            status = json.loads(proc.stdout)["status"]
        except (ValueError, KeyError, TypeError):
            raise RollbackError(f"the exec credential plugin {command!r} printed no ExecCredential status") from None
        self._status = status
        return status

    def authorization(self) -> Optional[str]:
        token = self._run().get("token")
        return f"Bearer {token}" if token else None

    def client_certificate(self) -> Optional[tuple]:
        status = self._run()
        if status.get("clientCertificateData") and status.get("clientKeyData"):
            return (_data_file(status["clientCertificateData"], "client certificate", encoded=False),
                    _data_file(status["clientKeyData"], "client key", encoded=False))
        return None


def _expired(timestamp: Optional[str]) -> bool:
    if not timestamp:
        return False
    import datetime

    try:
        when = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return True
    return when <= datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=10)


def _data_file(data: str, what: str, encoded: bool = True) -> str:
    """TLS libraries take files: write inline (base64) data to a private temp file, removed at exit."""
    try:
        raw = base64.b64decode(data, validate=True) if encoded else data.encode()
    except (ValueError, TypeError):
        raise UsageError(f"the kubeconfig's {what} data is not valid base64") from None
    fd, path = tempfile.mkstemp(prefix="khr-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(raw)
    atexit.register(_remove, path)
    return path


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _in_cluster() -> Connection:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:
        host = f"[{host}]"
    token_file = os.path.join(IN_CLUSTER_DIR, "token")
    try:
        with open(os.path.join(IN_CLUSTER_DIR, "namespace"), encoding="utf-8") as f:
            namespace = f.read().strip() or "default"
    except OSError:
        namespace = "default"
    authorization = _static_authorization({"tokenFile": token_file, "_base": IN_CLUSTER_DIR})
    return Connection(f"https://{host}:{port}", namespace, None, ca_file=os.path.join(IN_CLUSTER_DIR, "ca.crt"),
                      authorization=authorization)


def _from_kubernetes_client(kubeconfig: Optional[str], context: str, namespace: str, cluster: str) -> Connection:
    """What this module does not implement (auth-provider plugins), through the official client's loader."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration,
                                persist_config=False)
    except (ConfigException, OSError, ValueError) as exc:
        raise UsageError(f'cannot use context "{context}": {" ".join(str(exc).split())}') from None

    def authorization() -> Optional[str]:
        settings: Any = configuration.auth_settings().get("BearerToken") or {}
        return settings.get("value")

    return Connection(
        server=configuration.host.rstrip("/"),
        namespace=namespace,
        cluster_name=cluster,
        ca_file=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        verify=configuration.verify_ssl,
        proxy=getattr(configuration, "proxy", None),
        authorization=authorization,
    )



def context_names(kubeconfig: Optional[str]) -> list:
    """The names of the contexts kubectl would offer (--kubeconfig, else KUBECONFIG's files, else ~/.kube/config),
    sorted; none when there is no kubeconfig. A file that cannot be read raises UsageError, as load() does."""
    paths = [kubeconfig] if kubeconfig else _default_paths()
    existing = [p for p in paths if os.path.exists(p)]
    return sorted(_merge([(p, _read(p)) for p in existing])["contexts"])
