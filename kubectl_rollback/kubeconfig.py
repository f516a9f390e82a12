"""Where to connect and how: the server, TLS settings, proxy and identity kubectl would use for the same kubeconfig,
flags and environment, or the refusal kubectl would give (one line, exit 2).

client-go is the specification (tools/clientcmd: loader.go, validation.go, client_config.go; transport/ and rest/;
plugin/pkg/client/auth/exec; docs/kubeconfig.md lists each rule and where it comes from). If kubectl would connect
differently, it is a bug. Reading kubeconfigs here keeps the `kubernetes` package (about 0.5 s of imports) off the
path of every command; it is used, through its own loader, only to refresh an expired `oidc` auth-provider token.
"""

from __future__ import annotations

import atexit
import base64
import dataclasses
import datetime
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
from typing import Any, Callable, Optional, Tuple

from kubectl_rollback.errors import RollbackError, UsageError

IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
EXEC_TIMEOUT_SECONDS = 60
# The cluster extension handed to exec plugins as spec.cluster.config.
EXEC_EXTENSION = "client.authentication.k8s.io/exec"
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
PROXY_SCHEMES = ("http", "https", "socks5")
TOKEN_FILE_CACHE_SECONDS = 60  # client-go's cached file token source re-reads the file once a minute

# -- the kubeconfig schema (clientcmd/api/v1/types.go): each field's type, checked as Go's JSON decoder checks it --

STR, BOOL, BYTES = "string", "boolean", "base64 string"
STR_LIST = ("list", STR)
EXTENSIONS = ("list", {"name": STR, "extension": "any"})
CLUSTER = {"server": STR, "tls-server-name": STR, "insecure-skip-tls-verify": BOOL, "certificate-authority": STR,
           "certificate-authority-data": BYTES, "proxy-url": STR, "disable-compression": BOOL,
           "extensions": EXTENSIONS}
EXEC = {"command": STR, "args": STR_LIST, "env": ("list", {"name": STR, "value": STR}), "apiVersion": STR,
        "installHint": STR, "provideClusterInfo": BOOL, "interactiveMode": STR}
USER = {"client-certificate": STR, "client-certificate-data": BYTES, "client-key": STR, "client-key-data": BYTES,
        "token": STR, "tokenFile": STR, "as": STR, "as-uid": STR, "as-groups": STR_LIST,
        "as-user-extra": ("map", STR_LIST), "username": STR, "password": STR,
        "auth-provider": {"name": STR, "config": ("map", STR)}, "exec": EXEC, "extensions": EXTENSIONS}
CONTEXT = {"cluster": STR, "user": STR, "namespace": STR, "extensions": EXTENSIONS}
SECTIONS = (("clusters", "cluster", CLUSTER), ("users", "user", USER), ("contexts", "context", CONTEXT))
CONFIG = {"apiVersion": STR, "kind": STR, "current-context": STR, "preferences": "any", "extensions": EXTENSIONS,
          **{section: ("list", {"name": STR, key: schema}) for section, key, schema in SECTIONS}}
# Paths resolved against the folder of the file that defined the entry (loader.go ResolveLocalPaths); `~` is not
# expanded, exactly as kubectl does not.
CLUSTER_PATHS = ("certificate-authority",)
USER_PATHS = ("client-certificate", "client-key", "tokenFile")


@dataclasses.dataclass(frozen=True)
class Connection:
    server: str  # scheme://host[:port][/path prefix], without a trailing slash
    namespace: str
    cluster_name: Optional[str]
    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    verify: bool = True
    tls_server_name: Optional[str] = None
    proxy: Optional[str] = None  # the proxy URL for this server (proxy-url, else the environment), None: direct
    impersonation: tuple = ()  # (header, value) pairs sent on every request
    # The Authorization header value, asked for on every request so that short-lived credentials can refresh.
    authorization: Callable[[], Optional[str]] = lambda: None


@dataclasses.dataclass(frozen=True)
class Overrides:
    """kubectl's flags over the kubeconfig (clientcmd.ConfigOverrides, as kubectl binds them): `cluster` and `user`
    pick the kubeconfig's entries instead of the context's; every other value given replaces the entry's field. Empty
    means not given (a false --insecure-skip-tls-verify overrides nothing, as in Go)."""

    cluster: str = ""  # --cluster
    user: str = ""  # --user
    server: str = ""  # -s, --server
    certificate_authority: str = ""
    insecure_skip_tls_verify: bool = False
    tls_server_name: str = ""
    client_certificate: str = ""
    client_key: str = ""
    token: str = ""
    username: str = ""
    password: str = ""
    impersonate: str = ""  # --as
    impersonate_uid: str = ""  # --as-uid
    impersonate_groups: Tuple[str, ...] = ()  # --as-group, repeated
    impersonate_extra: Tuple[Tuple[str, str], ...] = ()  # --as-user-extra KEY=VALUE, repeated

    def over_cluster(self, cluster: dict) -> dict:
        """client_config.go getCluster: the flags over the entry, where a CA or skip-verify flag replaces all three
        TLS trust fields, and a --server or --tls-server-name flag replaces tls-server-name (it named the old one)."""
        merged = dict(cluster)
        if self.server:
            merged["server"] = self.server
        if self.insecure_skip_tls_verify or self.certificate_authority:
            for key in ("insecure-skip-tls-verify", "certificate-authority", "certificate-authority-data"):
                merged.pop(key, None)
            if self.insecure_skip_tls_verify:
                merged["insecure-skip-tls-verify"] = True
            if self.certificate_authority:
                merged["certificate-authority"] = self.certificate_authority
        if self.server or self.tls_server_name:
            merged.pop("tls-server-name", None)
            if self.tls_server_name:
                merged["tls-server-name"] = self.tls_server_name
        return merged

    def over_user(self, user: dict) -> dict:
        """client_config.go getAuthInfo: the flags over the entry; a client certificate or key flag replaces the
        entry's inline data too."""
        merged = dict(user)
        for key, value in (("token", self.token), ("username", self.username), ("password", self.password),
                           ("as", self.impersonate), ("as-uid", self.impersonate_uid)):
            if value:
                merged[key] = value
        if self.client_certificate:
            merged.pop("client-certificate-data", None)
            merged["client-certificate"] = self.client_certificate
        if self.client_key:
            merged.pop("client-key-data", None)
            merged["client-key"] = self.client_key
        if self.impersonate_groups:
            merged["as-groups"] = list(self.impersonate_groups)
        if self.impersonate_extra:
            extra = dict(merged.get("as-user-extra") or {})
            for key in dict(self.impersonate_extra):
                extra[key] = [value for k, value in self.impersonate_extra if k == key]
            merged["as-user-extra"] = extra
        return merged


def load(kubeconfig: Optional[str], context: Optional[str], overrides: Overrides = Overrides()) -> Connection:
    """As kubectl: --kubeconfig, else KUBECONFIG (several files), else ~/.kube/config, with kubectl's flags over it
    (`overrides`), else in-cluster."""
    merged, sources = _load_merged(kubeconfig)
    name = context or merged["current-context"] or ""
    ctx: dict = {}
    if name:
        if name not in merged["contexts"]:
            names = ", ".join(sorted(merged["contexts"])) or "none"
            raise UsageError(f'context "{name}" does not exist in the kubeconfig (contexts: {names})')
        ctx = merged["contexts"][name]
    for flag, wanted, section in (("--cluster", overrides.cluster, "clusters"), ("--user", overrides.user, "users")):
        if wanted and wanted not in merged[section]:
            names = ", ".join(sorted(merged[section])) or "none"
            raise UsageError(f'{flag} "{wanted}": the kubeconfig defines no such {section[:-1]} ({section}: {names})')
    cluster_name = overrides.cluster or ctx.get("cluster") or ""
    user_name = overrides.user or ctx.get("user") or ""
    cluster = overrides.over_cluster(merged["clusters"].get(cluster_name) or {})
    user = overrides.over_user(merged["users"].get(user_name) or {})  # an undefined user has no credentials
    if not cluster:
        # client-go's DeferredLoadingClientConfig: nothing to connect to and nothing to connect as (no file, an
        # empty one mounted into a pod, no current context) means in-cluster where that is possible.
        if not user and _in_cluster_possible():
            return _in_cluster()
        if not sources:
            raise UsageError(f"no kubeconfig found ({os.pathsep.join(_default_paths())}) and not running in a "
                             "cluster; pass --kubeconfig, set KUBECONFIG, or pass --server")
        if not name:
            raise UsageError(f"the kubeconfig ({os.pathsep.join(sources)}) has no current context; pass --context "
                             "(or --server)")
        raise UsageError(f'context "{name}" names cluster "{cluster_name}", which the kubeconfig does not define')
    _validate_cluster(cluster_name, cluster)
    _validate_user(user_name, user)
    if overrides.user and user.get("auth-provider") is not None:
        raise UsageError(f'--user "{user_name}" uses an auth-provider, which the plugin reads only through a '
                         "context; pass --context with a context for that user")
    return _connection(cluster, user, ctx.get("namespace") or "default", cluster_name or None, name, user_name,
                       kubeconfig)


def context_names(kubeconfig: Optional[str]) -> list:
    """The context names kubectl would list (`kubectl config get-contexts -o name`) for --kubeconfig or KUBECONFIG,
    sorted; for shell completion. Raises UsageError when kubectl would refuse the files."""
    return sorted(name for name, _ in contexts(kubeconfig))


def contexts(kubeconfig: Optional[str]) -> list:
    """Each context of --kubeconfig or KUBECONFIG as (name, the cluster it names), in the files' order (the first file
    to define a name wins, as kubectl merges them). Raises UsageError when kubectl would refuse the files."""
    merged, _ = _load_merged(kubeconfig)
    return [(name, entry.get("cluster") or None) for name, entry in merged["contexts"].items()]


# -- loading and merging (loader.go) --------------------------------------------------------------------------------


def _default_paths() -> list:
    env = os.environ.get("KUBECONFIG")
    if env:
        return [p for p in env.split(os.pathsep) if p]
    return [os.path.join(os.path.expanduser("~"), ".kube", "config")]


def _load_merged(kubeconfig: Optional[str]) -> tuple:
    """The merged kubeconfig and the files it came from. The first file to define a name (context, cluster, user) or
    current-context wins; missing files in KUBECONFIG are skipped, a missing --kubeconfig is an error."""
    if kubeconfig and not os.path.exists(kubeconfig):
        raise UsageError(f"--kubeconfig {kubeconfig}: no such file")
    paths = [kubeconfig] if kubeconfig else _default_paths()
    merged: dict = {"current-context": None, "contexts": {}, "clusters": {}, "users": {}}
    sources = []
    for path in paths:
        if not os.path.exists(path):
            continue
        sources.append(path)
        data = _read(path)
        base = os.path.dirname(os.path.abspath(path))
        if not merged["current-context"]:
            merged["current-context"] = data.get("current-context") or None
        for section, key, _ in SECTIONS:
            for entry in data.get(section) or []:
                if entry.get("name") not in merged[section]:
                    merged[section][entry.get("name")] = _resolve_paths(section, dict(entry.get(key) or {}), base)
    return merged, sources


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
    problem = _type_error(data, CONFIG, "") or _kind_error(data) or _duplicate_error(data)
    if problem:
        raise UsageError(f"cannot read the kubeconfig {path}: {problem}; kubectl refuses it too, fix the file")
    return data


def _type_error(value: Any, schema: Any, where: str) -> Optional[str]:
    """Where `value` does not have the type kubectl's decoder expects, or None. A null is an absent field, as in Go;
    unknown fields are ignored, as in Go."""
    if value is None or schema == "any":
        return None
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return f"{where or 'the file'} must be a mapping"
        for key, sub in schema.items():
            problem = _type_error(value.get(key), sub, f"{where}.{key}" if where else key)
            if problem:
                return problem
        return None
    if isinstance(schema, tuple):
        container, item = schema
        if container == "list":
            if not isinstance(value, list):
                return f"{where} must be a list"
            return next(filter(None, (_type_error(v, item, f"{where}[{i}]") for i, v in enumerate(value))), None)
        if not isinstance(value, dict):
            return f"{where} must be a mapping"
        return next(filter(None, (_type_error(v, item, f"{where}.{k}") for k, v in value.items())), None)
    if schema == BOOL and not isinstance(value, bool):
        return f"{where} must be true or false, not {value!r}"
    if schema in (STR, BYTES) and not isinstance(value, str):
        return f"{where} must be a string, not {value!r}"
    if schema == BYTES and _b64decode(value) is None:
        return f"{where} is not valid base64"
    return None


def _kind_error(data: dict) -> Optional[str]:
    if data.get("apiVersion") not in (None, "", "v1") or data.get("kind") not in (None, "", "Config"):
        return f"apiVersion {data.get('apiVersion')!r} kind {data.get('kind')!r} is not a v1 Config"
    return None


def _duplicate_error(data: dict) -> Optional[str]:
    for section, _, _ in SECTIONS:
        seen = set()
        for entry in data.get(section) or []:
            if entry.get("name") in seen:
                return f'{section} has two entries named "{entry.get("name")}"'
            seen.add(entry.get("name"))
    return None


def _resolve_paths(section: str, entry: dict, base: str) -> dict:
    keys = CLUSTER_PATHS if section == "clusters" else USER_PATHS if section == "users" else ()
    for key in keys:
        if entry.get(key):
            entry[key] = os.path.join(base, entry[key])
    command = (entry.get("exec") or {}).get("command") or ""
    if section == "users" and os.sep in command:  # a bare name is looked up on PATH; a path is the file's
        entry["exec"] = dict(entry["exec"], command=os.path.normpath(os.path.join(base, command)))
    return entry


def _b64decode(text: str) -> Optional[bytes]:
    """Go's base64 decoder, as used for []byte fields: standard alphabet, padding required, CR and LF ignored."""
    try:
        return base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except ValueError:
        return None


# -- validation (validation.go, transport's TLS and auth checks) ----------------------------------------------------


def _validate_cluster(name: str, cluster: dict) -> None:
    def refuse(what: str) -> None:
        where = f'cluster "{name}" in the kubeconfig' if name else "the cluster given by --server"
        raise UsageError(f"{where} {what}; kubectl refuses it too, fix the kubeconfig or the flags")

    if not cluster.get("server"):
        refuse("has no server address")
    if cluster.get("proxy-url"):
        scheme = urllib.parse.urlsplit(cluster["proxy-url"]).scheme
        if scheme not in PROXY_SCHEMES:
            refuse(f"has proxy-url {cluster['proxy-url']!r}: its scheme must be http, https or socks5")
    has_ca = cluster.get("certificate-authority") or cluster.get("certificate-authority-data")
    if cluster.get("certificate-authority") and cluster.get("certificate-authority-data"):
        refuse("sets both certificate-authority and certificate-authority-data")
    if cluster.get("certificate-authority") and not os.access(cluster["certificate-authority"], os.R_OK):
        refuse(f"names certificate-authority {cluster['certificate-authority']}, which cannot be read")
    if has_ca and cluster.get("insecure-skip-tls-verify") is True:
        refuse("sets insecure-skip-tls-verify together with a certificate authority")


def _validate_user(name: str, user: dict) -> None:
    def refuse(what: str) -> None:
        where = f'user "{name}" in the kubeconfig' if name else "the credentials given by flags"
        raise UsageError(f"{where} {what}; kubectl refuses it too, fix the kubeconfig or the flags")

    for file_key, data_key in (("client-certificate", "client-certificate-data"), ("client-key", "client-key-data")):
        if user.get(file_key) and user.get(data_key):
            refuse(f"sets both {file_key} and {data_key}")
    if user.get("client-certificate") or user.get("client-certificate-data"):
        if not (user.get("client-key") or user.get("client-key-data")):
            refuse("has a client certificate but no client-key or client-key-data")
        for key in ("client-certificate", "client-key"):
            if user.get(key) and not os.access(user[key], os.R_OK):
                refuse(f"names {key} {user[key]}, which cannot be read")
    if user.get("token") and (user.get("username") or user.get("password")):
        refuse("sets both a token and a username/password: only one authentication method is allowed")
    if user.get("tokenFile") and user.get("username"):
        refuse("sets both a tokenFile and a username: only one authentication method is allowed")
    if (user.get("as-uid") or user.get("as-groups") or user.get("as-user-extra")) and not user.get("as"):
        refuse("asks to impersonate a uid, groups or user-extra without a user to impersonate (as, or --as)")
    exec_spec = user.get("exec")
    if exec_spec is not None:
        if user.get("auth-provider") is not None:
            refuse("sets both exec and auth-provider")
        if not exec_spec.get("command"):
            refuse("has an exec credential plugin without a command")
        if exec_spec.get("apiVersion") not in EXEC_API_VERSIONS:
            refuse(f"has an exec credential plugin with apiVersion {exec_spec.get('apiVersion')!r} "
                   f"(kubectl supports {' and '.join(EXEC_API_VERSIONS)})")
        if any(not item.get("name") for item in exec_spec.get("env") or []):
            refuse("has an exec credential plugin env entry without a name")
        mode = _interactive_mode(exec_spec)
        if mode not in INTERACTIVE_MODES:
            refuse(f"has an exec credential plugin with interactiveMode {mode!r}: "
                   f"client.authentication.k8s.io/v1 requires one of {', '.join(INTERACTIVE_MODES)}")
    provider = (user.get("auth-provider") or {}).get("name")
    if user.get("auth-provider") is not None and provider != "oidc":
        hint = {"gcp": "use gke-gcloud-auth-plugin", "azure": "use kubelogin"}.get(provider or "", "")
        refuse(f"uses auth-provider {provider!r}, which kubectl no longer has" + (f"; {hint}" if hint else ""))


def _interactive_mode(exec_spec: dict) -> str:
    """v1beta1 defaults an absent interactiveMode to IfAvailable (api/v1/defaults.go); v1 has no default."""
    mode = exec_spec.get("interactiveMode") or ""
    if not mode and exec_spec.get("apiVersion") == "client.authentication.k8s.io/v1beta1":
        return "IfAvailable"
    return mode


# -- the connection (client_config.go ClientConfig, transport/) -----------------------------------------------------


def _connection(cluster: dict, user: dict, namespace: str, cluster_name: Optional[str], context: str, user_name: str,
                kubeconfig: Optional[str]) -> Connection:
    server = cluster["server"]
    if "://" not in server:
        server = "http://" + server  # rest.DefaultServerURL: no scheme and (here) no TLS settings yet means http
    scheme = urllib.parse.urlsplit(server).scheme
    if scheme not in ("http", "https"):
        where = f'cluster "{cluster_name}" has server' if cluster_name else "--server is"
        raise UsageError(f'{where} {cluster["server"]!r}: it must be an https:// (or http://) URL; fix the '
                         "kubeconfig or the flags")
    explicit_proxy = cluster.get("proxy-url") or None
    proxy = explicit_proxy or proxy_from_environment(server)
    common = dict(server=server.rstrip("/"), namespace=namespace, cluster_name=cluster_name, proxy=proxy,
                  impersonation=_impersonation_headers(user))
    if scheme != "https":
        return Connection(**common)  # kubectl sends neither TLS settings nor credentials to an http:// server

    ca_file = cluster.get("certificate-authority")
    if cluster.get("certificate-authority-data"):
        ca_file = _data_file(_b64decode(cluster["certificate-authority-data"]) or b"", "certificate authority")
    cert_file, key_file = user.get("client-certificate"), user.get("client-key")
    if user.get("client-certificate-data"):
        cert_file = _data_file(_b64decode(user["client-certificate-data"]) or b"", "client certificate")
    if user.get("client-key-data"):
        key_file = _data_file(_b64decode(user["client-key-data"]) or b"", "client key")
    if not cert_file:
        key_file = None  # a key without a certificate is not a client certificate (HasCertAuth)
    identified = (user.get("token") or user.get("tokenFile") or user.get("username") or cert_file
                  or user.get("auth-provider") is not None or user.get("exec") is not None)
    if not identified:
        # client_config.go canIdentifyUser: kubectl would ask for a username and password on stdin; we never prompt
        whose = f'context "{context}" has' if context else "the flags give"
        which = f'user "{user_name}": ' if user_name else ""
        raise UsageError(f"{whose} no credentials ({which}no token, client certificate, exec plugin or username); "
                         "kubectl would prompt for a username and password; add credentials to the kubeconfig, or "
                         "pass --token, or --client-certificate and --client-key")
    authorization = _static_authorization(user)
    static_header = bool(user.get("token") or user.get("tokenFile") or user.get("username"))
    # exec.go: any static credential means the plugin never runs
    if user.get("exec") is not None and not (static_header or cert_file):
        plugin = _ExecPlugin(user["exec"], _exec_cluster_info(server, cluster, ca_file, explicit_proxy), context)
        authorization = plugin.authorization
        cert_file, key_file = plugin.client_certificate() or (None, None)
    elif user.get("auth-provider") is not None and not static_header:
        # the provider's round tripper is inside the static credential's, so a static Authorization header wins
        authorization = _oidc_authorization(user["auth-provider"].get("config") or {}, kubeconfig, context)
    return Connection(**common, ca_file=ca_file, cert_file=cert_file, key_file=key_file,
                      verify=cluster.get("insecure-skip-tls-verify") is not True,
                      tls_server_name=cluster.get("tls-server-name") or None, authorization=authorization)


def _impersonation_headers(user: dict) -> tuple:
    """transport's impersonating round tripper: Impersonate-User, -Uid, one -Group per group, one -Extra-KEY per
    value (the key percent-escaped as client-go escapes it)."""
    if not user.get("as"):
        return ()
    headers = [("Impersonate-User", user["as"])]
    if user.get("as-uid"):
        headers.append(("Impersonate-Uid", user["as-uid"]))
    headers += [("Impersonate-Group", group) for group in user.get("as-groups") or []]
    for key, values in (user.get("as-user-extra") or {}).items():
        headers += [("Impersonate-Extra-" + _header_key_escape(key), value) for value in values or []]
    return tuple(headers)


_HEADER_TOKEN_BYTES = frozenset(b"!#$&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _header_key_escape(key: str) -> str:
    return "".join(chr(b) if b in _HEADER_TOKEN_BYTES else f"%{b:02X}" for b in key.encode())


def _static_authorization(user: dict) -> Callable[[], Optional[str]]:
    """A tokenFile wins over an inline token (it is re-read, for rotation; the inline token is the fallback when the
    file cannot be read); basic auth needs a username (a password alone sends nothing)."""
    token, token_file = user.get("token") or "", user.get("tokenFile")
    if token_file:
        return _TokenFile(token_file, token).authorization
    if token:
        return lambda: f"Bearer {token}"
    if user.get("username"):
        basic = base64.b64encode(f"{user['username']}:{user.get('password') or ''}".encode()).decode()
        return lambda: f"Basic {basic}"
    return lambda: None


class _TokenFile:
    def __init__(self, path: str, fallback: str):
        self.path = path
        self.token = fallback
        self.read_at = -float("inf")
        if not fallback:
            self.token = self._read(required=True)  # kubectl reads it up front when there is no inline token
            self.read_at = time.monotonic()

    def _read(self, required: bool) -> str:
        try:
            with open(self.path, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            if required:
                raise UsageError(f"cannot read the tokenFile {self.path}: {exc.strerror}; fix the kubeconfig") from None
            return self.token
        if not token and required:
            raise UsageError(f"the tokenFile {self.path} is empty; fix the kubeconfig")
        return token or self.token

    def authorization(self) -> str:
        if time.monotonic() - self.read_at >= TOKEN_FILE_CACHE_SECONDS:
            self.token = self._read(required=False)
            self.read_at = time.monotonic()
        return f"Bearer {self.token}"


def _exec_cluster_info(server: str, cluster: dict, ca_file: Optional[str], explicit_proxy: Optional[str]) -> dict:
    """spec.cluster for provideClusterInfo (rest.ConfigToExecCluster): fields left empty are omitted, as Go does."""
    ca_data = b""
    if ca_file:
        try:
            with open(ca_file, "rb") as f:
                ca_data = f.read()
        except OSError as exc:
            raise UsageError(f"cannot read the certificate authority {ca_file}: {exc.strerror}") from None
    info: dict = {"server": cluster["server"] if "://" in cluster["server"] else server}
    extension = next((e.get("extension") for e in cluster.get("extensions") or [] if e.get("name") == EXEC_EXTENSION),
                     None)
    for key, value in (("tls-server-name", cluster.get("tls-server-name")),
                       ("insecure-skip-tls-verify", cluster.get("insecure-skip-tls-verify") is True),
                       ("certificate-authority-data", base64.b64encode(ca_data).decode() if ca_data else None),
                       ("proxy-url", explicit_proxy), ("disable-compression", cluster.get("disable-compression")),
                       ("config", extension)):
        if value:
            info[key] = value
    return info


class _ExecPlugin:
    """A client-go credential plugin (user.exec): run when first needed, its credential kept until it expires."""

    def __init__(self, spec: dict, cluster_info: dict, context: str):
        self.spec = spec
        self.cluster_info = cluster_info
        self.context = context
        self._status: Optional[dict] = None
        self._expiry: Optional[datetime.datetime] = None

    def _interactive(self) -> bool:
        mode = _interactive_mode(self.spec)
        terminal = sys.stdin is not None and sys.stdin.isatty()
        if mode == "Always" and not terminal:
            raise UsageError(f'the exec credential plugin of context "{self.context}" has interactiveMode Always '
                             "but standard input is not a terminal; run it from a terminal")
        return mode != "Never" and terminal

    def _run(self) -> dict:
        now = datetime.datetime.now(datetime.timezone.utc)
        if self._status is not None and (self._expiry is None or now <= self._expiry):
            return self._status
        command, api_version = self.spec["command"], self.spec["apiVersion"]
        interactive = self._interactive()
        spec: dict = {"interactive": interactive}
        if self.spec.get("provideClusterInfo") is True:
            spec["cluster"] = self.cluster_info
        info = {"kind": "ExecCredential", "apiVersion": api_version, "spec": spec}
        env = dict(os.environ)
        env.update({item["name"]: item.get("value") or "" for item in self.spec.get("env") or []})
        env["KUBERNETES_EXEC_INFO"] = json.dumps(info, separators=(",", ":"))
        try:
            proc = subprocess.run([command, *(self.spec.get("args") or [])], env=env, stdout=subprocess.PIPE,
                                  stderr=None if interactive else subprocess.PIPE, text=True,
                                  stdin=None if interactive else subprocess.DEVNULL, timeout=EXEC_TIMEOUT_SECONDS)
        except (OSError, subprocess.TimeoutExpired) as exc:
            hint = " ".join((self.spec.get("installHint") or "check that it is installed and on PATH").split())
            raise RollbackError(f"cannot run the exec credential plugin {command!r}: {exc}; {hint}") from None
        if proc.returncode != 0:
            last = ((proc.stderr or "").strip().splitlines() or ["no output"])[-1]
            raise RollbackError(f"the exec credential plugin {command!r} failed (exit {proc.returncode}): {last}")
        self._status, self._expiry = self._parse(command, api_version, proc.stdout)
        return self._status

    @staticmethod
    def _parse(command: str, api_version: str, stdout: str) -> tuple:
        def bad(what: str) -> RollbackError:
            return RollbackError(f"the exec credential plugin {command!r} {what}")

        try:
            credential = json.loads(stdout)
        except ValueError:
            raise bad("printed no ExecCredential (not JSON)") from None
        if not isinstance(credential, dict) or credential.get("kind") != "ExecCredential":
            raise bad("printed no ExecCredential (kind must be ExecCredential)")
        if credential.get("apiVersion") != api_version:
            raise bad(f"answered apiVersion {credential.get('apiVersion')!r}, not the configured {api_version}")
        status = credential.get("status")
        if not isinstance(status, dict):
            raise bad("returned no status")
        if not (status.get("token") or status.get("clientCertificateData") or status.get("clientKeyData")):
            raise bad("returned neither a token nor a client certificate and key")
        if bool(status.get("clientCertificateData")) != bool(status.get("clientKeyData")):
            raise bad("returned a client certificate without its key, or a key without its certificate")
        expiry = None
        if status.get("expirationTimestamp"):
            expiry = parse_rfc3339(status["expirationTimestamp"])
            if expiry is None:
                raise bad(f"returned expirationTimestamp {status['expirationTimestamp']!r}, which is not RFC 3339")
        return status, expiry

    def authorization(self) -> Optional[str]:
        token = self._run().get("token")
        return f"Bearer {token}" if token else None

    def client_certificate(self) -> Optional[tuple]:
        status = self._run()
        if status.get("clientCertificateData") and status.get("clientKeyData"):
            return (_data_file(status["clientCertificateData"].encode(), "client certificate"),
                    _data_file(status["clientKeyData"].encode(), "client key"))
        return None


_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))$")


def parse_rfc3339(text: str) -> Optional[datetime.datetime]:
    """A metav1.Time (RFC 3339, fractional seconds allowed) as an aware datetime, or None."""
    match = _RFC3339.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    offset = datetime.timedelta(0)
    if match.group(9):
        offset = datetime.timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        offset = -offset if match.group(9) == "-" else offset
    try:
        return datetime.datetime(year, month, day, hour, minute, second, micro, datetime.timezone(offset))
    except ValueError:
        return None


def _data_file(raw: bytes, what: str) -> str:
    """TLS libraries take files: write inline data to a private temp file, removed at exit."""
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


# -- proxy from the environment (net/http ProxyFromEnvironment, golang.org/x/net/http/httpproxy) ---------------------


def proxy_from_environment(server: str, environ: Optional[dict] = None) -> Optional[str]:
    """The proxy Go's http.ProxyFromEnvironment picks for `server`: HTTPS_PROXY (https) or HTTP_PROXY (http), upper
    case first; never for localhost or loopback addresses; not for hosts NO_PROXY matches (names and their
    subdomains, .suffixes, IPs, CIDRs, optional :port; * for all). A value without a scheme means http://."""
    env = os.environ if environ is None else environ

    def first(*names: str) -> str:
        return next((env[n] for n in names if env.get(n)), "")

    parts = urllib.parse.urlsplit(server)
    proxy = first("HTTPS_PROXY", "https_proxy") if parts.scheme == "https" else first("HTTP_PROXY", "http_proxy")
    if not proxy:
        return None
    host = (parts.hostname or "").lower()
    port = str(parts.port or (443 if parts.scheme == "https" else 80))
    ip = _ip(host)
    if host == "localhost" or (ip is not None and ip.is_loopback):
        return None
    if _no_proxy_matches(first("NO_PROXY", "no_proxy"), host, port, ip):
        return None
    parsed = urllib.parse.urlsplit(proxy)
    if not parsed.scheme or not parsed.netloc:
        proxy = "http://" + proxy
    return proxy


def _ip(host: str) -> Optional[Any]:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _no_proxy_matches(no_proxy: str, host: str, port: str, ip: Optional[Any]) -> bool:
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if entry == "*":
            return True
        if "/" in entry:  # a CIDR
            try:
                if ip is not None and ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry_host, entry_port = entry, ""
        with_port = re.fullmatch(r"\[?([^\]]*?)\]?:(\d+)", entry)
        if with_port and _ip(entry) is None:  # a bare IPv6 address has colons but no port
            entry_host, entry_port = with_port.groups()
        if not entry_host or entry_port not in ("", port):
            continue
        entry_ip = _ip(entry_host)
        if entry_ip is not None:
            if entry_ip == ip:
                return True
            continue
        if entry_host.startswith("*."):
            entry_host = entry_host[1:]
        if host.endswith(entry_host if entry_host.startswith(".") else "." + entry_host) or host == entry_host:
            return True
    return False


# -- in-cluster and the oidc auth-provider ---------------------------------------------------------------------------


def _in_cluster_possible() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST") and os.environ.get("KUBERNETES_SERVICE_PORT")
                and os.path.isfile(os.path.join(IN_CLUSTER_DIR, "token")))


def _in_cluster() -> Connection:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
    if ":" in host:
        host = f"[{host}]"
    try:
        with open(os.path.join(IN_CLUSTER_DIR, "namespace"), encoding="utf-8") as f:
            namespace = f.read().strip() or "default"
    except OSError:
        namespace = "default"
    server = f"https://{host}:{port}"
    return Connection(server, os.environ.get("POD_NAMESPACE") or namespace, None,
                      ca_file=os.path.join(IN_CLUSTER_DIR, "ca.crt"), proxy=proxy_from_environment(server),
                      authorization=_TokenFile(os.path.join(IN_CLUSTER_DIR, "token"), "").authorization)


OIDC_EXPIRY_DELTA_SECONDS = 10  # oidc.go expiryDelta: a token this close to its exp counts as expired


def _oidc_authorization(config: dict, kubeconfig: Optional[str], context: str) -> Callable[[], Optional[str]]:
    """kubectl's oidc auth-provider (client-go plugin/pkg/client/auth/oidc): an id-token that is a JWT whose exp is
    more than 10 s away is sent as it is, with no extra package; only a refresh (an expired token and a
    refresh-token) goes through the official client's loader."""
    def refuse(what: str) -> UsageError:
        return UsageError(f'cannot use context "{context}": its oidc auth-provider {what}')

    for key in ("idp-issuer-url", "client-id"):  # newOIDCAuthProvider
        if not config.get(key):
            raise refuse(f"must provide {key}")
    if config.get("idp-certificate-authority-data") and _b64decode(config["idp-certificate-authority-data"]) is None:
        raise refuse("has idp-certificate-authority-data that is not base64")
    if config.get("idp-certificate-authority") and not os.access(config["idp-certificate-authority"], os.R_OK):
        raise refuse(f"cannot read idp-certificate-authority {config['idp-certificate-authority']}")
    token = config.get("id-token") or ""
    refresh: Optional[Callable[[], Optional[str]]] = None

    def authorization() -> Optional[str]:
        nonlocal refresh
        if token:
            try:
                valid = _id_token_valid(token)
            except ValueError as exc:
                raise refuse(f"has an id-token that {exc}") from None
            if valid:
                return f"Bearer {token}"
        if not config.get("refresh-token"):
            raise refuse("has no valid id-token, and cannot refresh without refresh-token")
        if refresh is None:
            refresh = _refreshed_oidc_authorization(kubeconfig, context)
        return refresh()

    authorization()  # a token kubectl would refuse is refused before the first request, in one line
    return authorization


def _id_token_valid(token: str) -> bool:
    """oidc.go idTokenExpired: the JWT's exp claim (a number; none means expired) is more than 10 s away."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("is not a valid JWT")
    payload = parts[1]
    try:
        if "=" in payload:  # base64.RawURLEncoding: no padding
            raise ValueError
        claims = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4), altchars=b"-_", validate=True))
        exp = claims.get("exp", 0)
        if isinstance(exp, bool):  # JSON true is no number to Go
            raise ValueError
        expiry = int(float(exp))  # jsonTime: an integer, or a float truncated to whole seconds
    except (ValueError, TypeError, AttributeError, OverflowError):
        raise ValueError("is not a valid JWT (its claims cannot be read)") from None
    return time.time() + OIDC_EXPIRY_DELTA_SECONDS < expiry


def _refreshed_oidc_authorization(kubeconfig: Optional[str], context: str) -> Callable[[], Optional[str]]:
    """An expired oidc token refreshed with its refresh-token, through the official client's loader; everything else
    about the connection stays ours. Unlike kubectl, the new token is not written back to the kubeconfig."""
    try:  # an optional install (setup.cfg's `oidc` extra): the krew archive leaves it out, it is 90% of the bundle
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
    except ImportError:
        raise RollbackError(f'cannot use context "{context}": its oidc id-token has expired, and refreshing it '
                            f"needs the Python package kubernetes (>=24), which {sys.executable} does not have: "
                            "install it for that python3 (pip install 'kubernetes>=24', or the OS package "
                            "python3-kubernetes)") from None

    import urllib3  # the official client's HTTP stack, which its refresh goes through

    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration,
                                persist_config=False)
    except (ConfigException, OSError, ValueError) as exc:
        raise UsageError(f'cannot use context "{context}": {" ".join(str(exc).split())}') from None
    except urllib3.exceptions.HTTPError as exc:  # the issuer could not be reached or answered badly
        raise RollbackError(f'cannot use context "{context}": refreshing its expired oidc id-token failed: '
                            f"{' '.join(str(exc).split())}; check the issuer (idp-issuer-url) is reachable, or log "
                            "in again for a new token") from None

    def authorization() -> Optional[str]:
        settings: Any = configuration.auth_settings().get("BearerToken") or {}
        return settings.get("value")

    return authorization
