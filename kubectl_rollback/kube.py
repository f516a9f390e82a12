"""The one place that talks to the API server.

Client construction (kubeconfig with several files, --context, exec credential plugins, in-cluster config),
bounded retries with backoff and jitter, and the translation of every failure into one line that says what
failed, why, and what to do. Objects travel as plain dicts of the API's JSON: no model classes, so nothing is
deserialized twice and a new field on the server never breaks us.

Where to connect and how to authenticate comes from kubeconfig.py; requests go through our own urllib3 pool, so the
retry policy is ours alone.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import os
import random
import re
import shlex
import ssl
import time
import urllib.parse
from typing import Any, Callable, Dict, Iterator, Optional

from kubectl_rollback import console, interrupts, kubeconfig
from kubectl_rollback.errors import ApiError, ConflictError, ForbiddenError, NotFoundError, RollbackError, UsageError
from kubectl_rollback.kubeconfig import Connection, Overrides
from kubectl_rollback.options import DryRun

RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 5
RETRY_BUDGET_SECONDS = 30.0
BACKOFF_BASE_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 5.0
PAGE_SIZE = 500
CONNECT_TIMEOUT_SECONDS = 10.0
SELF_SUBJECT_REVIEW_VERSIONS = ("v1", "v1beta1")  # GA in 1.28, beta in 1.27
DRY_RUN_ALL = "All"  # the one dry-run value the API server knows: every stage runs, nothing is stored
DRY_RUN_STRICTNESS = (DryRun.NONE, DryRun.SERVER, DryRun.CLIENT)  # what a write may change, from most to nothing
# A watch stream silent this much longer than the timeoutSeconds it asked for is dead, though still open.
WATCH_SILENCE_MARGIN_SECONDS = 15


@dataclasses.dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def qualified(self) -> str:
        """The name kubectl prints: deployments.apps, services."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: Optional[str], name: Optional[str] = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None and self.namespaced:
            base += f"/namespaces/{urllib.parse.quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{urllib.parse.quote(name, safe='')}"
        return base


DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
STATEFULSETS = Resource("apps", "v1", "statefulsets", "StatefulSet")
DAEMONSETS = Resource("apps", "v1", "daemonsets", "DaemonSet")
REPLICASETS = Resource("apps", "v1", "replicasets", "ReplicaSet")
CONTROLLER_REVISIONS = Resource("apps", "v1", "controllerrevisions", "ControllerRevision")
SERVICES = Resource("", "v1", "services", "Service")
ENDPOINTS = Resource("", "v1", "endpoints", "Endpoints")
PODS = Resource("", "v1", "pods", "Pod")
EVENTS = Resource("", "v1", "events", "Event")
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
SECRETS = Resource("", "v1", "secrets", "Secret")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
PERSISTENT_VOLUME_CLAIMS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
PRIORITY_CLASSES = Resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", namespaced=False)
RUNTIME_CLASSES = Resource("node.k8s.io", "v1", "runtimeclasses", "RuntimeClass", namespaced=False)

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    # server-side apply: the body is the whole desired object (JSON is YAML), owned by the request's fieldManager
    "apply": "application/apply-patch+yaml",
}


@dataclasses.dataclass(frozen=True)
class ConnectionOptions:
    kubeconfig: Optional[str] = None
    context: Optional[str] = None
    namespace: Optional[str] = None
    request_timeout: float = 30.0
    # kubectl's flags over the kubeconfig: --server, --token, --user, --as, ...
    overrides: Overrides = Overrides()


class Kube:
    """A connection to one cluster and namespace. Every method returns plain JSON data or raises ApiError."""

    def __init__(self, connection: Connection, request_timeout: float, namespace: Optional[str] = None):
        import urllib3

        self.namespace = namespace or connection.namespace
        self.cluster_name = connection.cluster_name
        self.host = connection.server
        self._authorization = connection.authorization
        self._impersonation = connection.impersonation
        # A request timeout of 0 is none, as in kubectl; connecting is still bounded.
        connect = min(CONNECT_TIMEOUT_SECONDS, request_timeout) if request_timeout else CONNECT_TIMEOUT_SECONDS
        self._timeout = urllib3.Timeout(connect=connect, read=request_timeout or None)
        pool_args: dict = {
            "num_pools": 2,
            "maxsize": 4,
            "retries": False,  # the retry policy is ours (_send), not urllib3's
            "cert_reqs": "CERT_REQUIRED" if connection.verify else "CERT_NONE",
            "ca_certs": connection.ca_file,
            "cert_file": connection.cert_file,
            "key_file": connection.key_file,
        }
        if connection.tls_server_name:
            pool_args["server_hostname"] = connection.tls_server_name
        if not connection.verify:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        proxy = connection.proxy
        self._pool: urllib3.PoolManager = _pool_manager(proxy, pool_args) if proxy else urllib3.PoolManager(**pool_args)
        # group/version -> the verbs of each resource it serves ({} for a group/version not served): asked once per
        # run, shared by every client made from this one (in_namespace, bound_to copy the reference)
        self._discovered: Dict[str, Dict[str, frozenset]] = {}

    @classmethod
    def connect(cls, options: ConnectionOptions, quiet: bool = False) -> Kube:
        """A client for the options; `quiet` (shell completion) says nothing on stderr."""
        connection = kubeconfig.load(options.kubeconfig, options.context, options.overrides)
        # Said once per command, where the kubeconfig turned it off; typed on the command line, it is known already.
        if not connection.verify and not options.overrides.insecure_skip_tls_verify and not quiet:
            console.warn("TLS verification is off for this cluster (insecure-skip-tls-verify in the kubeconfig)")
        kube = cls(connection, options.request_timeout, options.namespace)
        kube._reach = _reach_flags(options)
        return kube

    _reach: tuple = ()  # the connection flags the user gave that pick the cluster and user (never a credential)

    def command_flags(self) -> str:
        """The flags that reach this cluster, as this user, in this namespace: for a command we print to be copied."""
        return " ".join(shlex.quote(arg) for arg in ("-n", self.namespace, *self._reach))

    def in_namespace(self, namespace: str) -> Kube:
        """The same connection, acting in another namespace."""
        other = copy.copy(self)
        other.namespace = namespace
        return other

    dry_run: DryRun = DryRun.NONE  # the mode of every write this client sends

    def bound_to(self, dry_run: DryRun) -> Kube:
        """The same connection, every write in `dry_run`'s mode: each one sent with dryRun=All in a server dry run,
        none sent at all in a client one (write_query refuses). A verb binds its request's mode once, so no step
        picks a mode of its own, and clients made from this one (in_namespace, bound_to) keep it: binding never
        loosens (a server dry run's client bound to a real run still sends dryRun=All)."""
        other = copy.copy(self)
        other.dry_run = max(self.dry_run, dry_run, key=DRY_RUN_STRICTNESS.index)
        return other

    lists_from_cache = False  # lists carry resourceVersion=0: see from_cache

    def from_cache(self) -> Kube:
        """The same connection, its lists answered from the API server's watch cache as it stands (resourceVersion=0),
        for a reader whose objects are older than what it has already seen (the watcher: a rollout ends after its
        pods have reported their images). A list without a resourceVersion is a consistent read: a 1.35 server
        holds it until its cache of that kind has caught up with etcd, and for a kind with no write meanwhile (pods,
        while rollouts of zero replicas end) that is its next progress notification, up to 100 ms a list."""
        other = copy.copy(self)
        other.lists_from_cache = True
        return other

    def checking(self) -> Kube:
        """The same connection for checks: every write sent with dryRun=All, whatever this client's mode. A client dry
        run's pre-flight (commands/preflight.py) asks the server what the real run would meet; nothing is stored."""
        other = copy.copy(self)
        other.dry_run = DryRun.SERVER
        return other

    # -- verbs -------------------------------------------------------------------------------------------------

    def get(self, resource: Resource, name: str, namespace: Optional[str] = None) -> dict:
        ns = namespace or self.namespace
        return self._send("GET", resource.path(ns, name), what=_what("get", resource, name, ns))

    def list(
        self,
        resource: Resource,
        namespace: Optional[str] = None,
        label_selector: Optional[str] = None,
        field_selector: Optional[str] = None,
    ) -> list:
        """Every item, fetched in pages of PAGE_SIZE so that a large namespace never arrives as one huge body."""
        return list(self.iter_list(resource, namespace, label_selector, field_selector))

    def iter_list(
        self,
        resource: Resource,
        namespace: Optional[str] = None,
        label_selector: Optional[str] = None,
        field_selector: Optional[str] = None,
    ) -> Iterator[dict]:
        ns = (namespace or self.namespace) if resource.namespaced else None
        query = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        for page in self._pages(resource, ns, query):
            yield from page.get("items") or []

    def _pages(self, resource: Resource, ns: Optional[str], query: dict) -> Iterator[dict]:
        """Every page of a list, PAGE_SIZE items at a time (limit and continue)."""
        query = {"limit": str(PAGE_SIZE), **({"resourceVersion": "0"} if self.lists_from_cache else {}), **query}
        what = _what("list", resource, None, ns)
        while True:
            page = self._send("GET", resource.path(ns), query=query, what=what)
            yield page
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            # the token carries the list's version: the server refuses a resourceVersion beside it
            query = {**{k: v for k, v in query.items() if k != "resourceVersion"}, "continue": token}

    def patch(
        self,
        resource: Resource,
        name: str,
        body: Any,
        patch_type: str = "merge",
        namespace: Optional[str] = None,
        field_manager: Optional[str] = None,
        force: bool = False,
    ) -> dict:
        """A patch. Callers put metadata.resourceVersion in the body (or a JSON-patch op on it), so the server refuses
        with 409 if the object changed since it was read; that is also what makes a retried write safe. A server-side
        apply ("apply") names its `field_manager`, and with `force` takes over fields other managers own; sent again,
        it converges on the same object, so its retry is safe too."""
        ns = namespace or self.namespace
        what = _what("patch", resource, name, ns)
        query = write_query(self.dry_run, what)
        if field_manager:
            query["fieldManager"] = field_manager
        if force:
            query["force"] = "true"
        return self._send(
            "PATCH",
            resource.path(ns, name),
            query=query or None,
            body=body,
            content_type=PATCH_TYPES[patch_type],
            what=what,
            write=True,
        )

    def create(self, resource: Resource, body: dict, namespace: Optional[str] = None) -> dict:
        ns = namespace or self.namespace
        what = _what("create", resource, None, ns)
        return self._send("POST", resource.path(ns), query=write_query(self.dry_run, what) or None, body=body,
                          what=what, write=True)

    def delete(
        self,
        resource: Resource,
        name: str,
        namespace: Optional[str] = None,
        uid: Optional[str] = None,
    ) -> dict:
        """Delete in the background (dependents go too), only the object with `uid` when given."""
        ns = namespace or self.namespace
        what = _what("delete", resource, name, ns)
        query = write_query(self.dry_run, what)
        body: dict = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        if query:
            # A DELETE with a body takes its options from the body alone: the query's dryRun would be ignored.
            body["dryRun"] = [query["dryRun"]]
        return self._send("DELETE", resource.path(ns, name), query=query or None, body=body, what=what, write=True)

    _who: Any = ()  # whoami's answer, once asked: () until then

    def whoami(self) -> Optional[str]:
        """The user name the API server takes us for (`kubectl auth whoami`: a SelfSubjectReview, served from
        Kubernetes 1.27, GA in 1.28), or None where no version of it is served or we may not ask. Asked once."""
        if self._who == ():
            self._who = self._ask_whoami()
        return self._who

    def _ask_whoami(self) -> Optional[str]:
        for version in SELF_SUBJECT_REVIEW_VERSIONS:
            path = f"/apis/authentication.k8s.io/{version}/selfsubjectreviews"
            review = {"apiVersion": f"authentication.k8s.io/{version}", "kind": "SelfSubjectReview"}
            try:
                answer = self._send("POST", path, what="cannot ask the API server who we are", body=review)
            except NotFoundError:
                continue
            except ForbiddenError:
                return None
            return ((answer.get("status") or {}).get("userInfo") or {}).get("username")
        return None

    def served_verbs(self, resource: Resource) -> Optional[frozenset]:
        """The verbs the API server serves `resource` with (discovery: `kubectl api-resources`), or None when it does
        not serve it at all (a custom resource whose CRD is not installed). Asked once per group/version and run."""
        group_version = f"{resource.group}/{resource.version}" if resource.group else resource.version
        if group_version not in self._discovered:
            path = f"/apis/{group_version}" if resource.group else f"/api/{group_version}"
            try:
                listed = self._send("GET", path, what=f"cannot discover the resources of {group_version}")
            except NotFoundError:
                listed = {}
            self._discovered[group_version] = {
                r["name"]: frozenset(r.get("verbs") or ()) for r in listed.get("resources") or ()}
        return self._discovered[group_version].get(resource.plural)

    # -- watching (kubectl_rollback/watcher) --------------------------------------------------------------------

    def list_versioned(self, resource: Resource, all_namespaces: bool = False) -> tuple:
        """(every item, the list's resourceVersion) in this namespace or all of them: where a watch starts from."""
        items: list = []
        version = ""
        for page in self._pages(resource, None if all_namespaces else self.namespace, {}):
            items.extend(page.get("items") or [])
            version = (page.get("metadata") or {}).get("resourceVersion", "")
        return items, version

    def watch(
        self, resource: Resource, resource_version: str, all_namespaces: bool = False, timeout_seconds: int = 300
    ) -> Iterator[dict]:
        """The watch events ({"type", "object"}) after `resource_version`, with bookmarks, until the server ends the
        stream (after about `timeout_seconds`). A stream that breaks, or stays silent WATCH_SILENCE_MARGIN_SECONDS
        past `timeout_seconds` (a frozen connection), raises ApiError; a 410 Gone arrives as an ApiError with status
        410 (before the stream) or as an ERROR event (in it): the caller relists."""
        import urllib3

        ns = None if all_namespaces else self.namespace
        query = {"watch": "true", "allowWatchBookmarks": "true", "resourceVersion": resource_version,
                 "timeoutSeconds": str(timeout_seconds)}
        url = self.host + resource.path(ns) + "?" + urllib.parse.urlencode(query)
        what = _what("watch", resource, None, ns)
        timeout = urllib3.Timeout(connect=self._timeout.connect_timeout,
                                  read=timeout_seconds + WATCH_SILENCE_MARGIN_SECONDS)
        try:
            response = self._pool.request("GET", url, headers=self._headers(None), timeout=timeout,
                                          preload_content=False, redirect=False)
        except urllib3.exceptions.HTTPError as exc:
            self._drop_idle_connections()
            raise ApiError(f"{what}: cannot reach the API server at {self.host} ({_cause(exc)})") from None
        try:
            if response.status >= 300:
                raise _translate(what, response.status, response.read())
            buffered = b""
            for chunk in response.stream(65536, decode_content=True):
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        except (urllib3.exceptions.HTTPError, ValueError) as exc:
            if isinstance(exc, urllib3.exceptions.HTTPError):
                self._drop_idle_connections()
            raise ApiError(f"{what}: the stream broke ({_cause(exc)})") from None
        finally:
            response.close()  # a stream left unfinished cannot go back to the pool as it is
            response.release_conn()

    # -- transport ---------------------------------------------------------------------------------------------

    def _drop_idle_connections(self) -> None:
        """After a connection failed or went silent: the path to the server may be dead for every connection (a
        frozen proxy, a dropped route), so the next requests start on fresh ones rather than on pooled ones that
        would each take a full timeout to fail (client-go closes the whole HTTP/2 connection when a ping fails)."""
        self._pool.clear()

    def _headers(self, content_type: Optional[str]) -> Any:
        import urllib3

        headers = urllib3.HTTPHeaderDict({"Accept": "application/json", "User-Agent": "kubectl-harness-rollback"})
        for name, value in self._impersonation:
            headers.add(name, value)  # a header per group, as client-go sends them
        if content_type:
            headers["Content-Type"] = content_type
        authorization = self._authorization()
        if authorization:
            headers["Authorization"] = authorization
        return headers

    def _send(
        self,
        method: str,
        path: str,
        what: str,
        query: Optional[dict] = None,
        body: Any = None,
        content_type: Optional[str] = None,
        write: bool = False,
    ) -> Any:
        """One request with the retry policy: 429/5xx and connection errors are retried with exponential backoff and
        full jitter (honouring Retry-After), at most MAX_ATTEMPTS times within RETRY_BUDGET_SECONDS. Writes are
        retried too: each carries a precondition, so a write the server already applied comes back as 409, never
        as a second change."""
        import urllib3

        if write:  # a Ctrl-C before the first write that changes something stops the command here
            interrupts.before_write(changes=(query or {}).get("dryRun") != DRY_RUN_ALL)
        url = self.host + path + ("?" + urllib.parse.urlencode(query) if query else "")
        payload = None if body is None else json.dumps(body).encode()
        if payload is not None and content_type is None:
            content_type = "application/json"
        deadline = time.monotonic() + RETRY_BUDGET_SECONDS
        attempt = 0
        unanswered = False  # an attempt of this write may have reached the server without us hearing back
        while True:
            attempt += 1
            retry_after = None
            try:
                response = self._pool.request(
                    method,
                    url,
                    body=payload,
                    headers=self._headers(content_type),
                    timeout=self._timeout,
                    preload_content=True,
                    redirect=False,
                )
            except urllib3.exceptions.HTTPError as exc:
                self._drop_idle_connections()
                unanswered = unanswered or write
                check = ("the certificate authority of the context (certificate-authority in the kubeconfig, "
                         "--certificate-authority)" if _tls_error(exc) is not None
                         else "--context/--kubeconfig and that the cluster is up")
                failure: RollbackError = ApiError(
                    f"{what}: cannot reach the API server at {self.host} ({_cause(exc)}); check {check}, then try again"
                )
                if not _may_succeed_again(exc):
                    raise failure from None
            else:
                if response.status < 300:
                    return json.loads(response.data) if response.data else {}
                failure = _translate(what, response.status, response.data)
                if isinstance(failure, ConflictError):
                    failure.ambiguous = unanswered
                if response.status not in RETRIABLE_STATUSES:
                    if write and not unanswered:  # an answered refusal: this write changed nothing
                        interrupts.refused()
                    raise failure
                # 429 and 503 are refusals before any work; a 500, 502 or 504 may come after the write was applied.
                unanswered = unanswered or (write and response.status not in (429, 503))
                retry_after = _retry_after(response.headers.get("Retry-After"))
            delay = retry_after if retry_after is not None else _backoff(attempt)
            if attempt >= MAX_ATTEMPTS or time.monotonic() + delay > deadline:
                failure.message += f" (gave up after {attempt} attempts)"
                raise failure
            interrupts.sleep(delay)


def _pool_manager(proxy: str, pool_args: dict) -> Any:
    """A pool through the proxy, as Go's transport uses it: http(s) proxies get a CONNECT tunnel with
    Proxy-Authorization from the URL's user:password; socks5 ones resolve the server's name on the proxy's side."""
    import urllib3

    parts = urllib.parse.urlsplit(proxy)
    user = urllib.parse.unquote(parts.username) if parts.username is not None else None
    password = urllib.parse.unquote(parts.password or "") if user is not None else None
    hostport = parts.netloc.rsplit("@", 1)[-1]
    if parts.scheme in ("socks5", "socks5h"):
        try:
            from urllib3.contrib.socks import SOCKSProxyManager
        except ImportError:
            raise UsageError(f"the proxy {parts.scheme}://{hostport} needs PySocks: pip install PySocks") from None
        return SOCKSProxyManager(f"socks5h://{hostport}", username=user, password=password, **pool_args)
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"the proxy {proxy!r} has scheme {parts.scheme!r}: it must be http, https or socks5")
    headers = {}
    if user is not None:
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    proxy_ssl: dict = {}
    if parts.scheme == "https":  # Go verifies an https proxy with the same TLS settings as the server
        import ssl

        verify = pool_args["cert_reqs"] == "CERT_REQUIRED"
        context = urllib3.util.ssl_.create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
        if verify and pool_args["ca_certs"]:
            context.load_verify_locations(pool_args["ca_certs"])
        elif verify:
            context.load_default_certs()
        proxy_ssl["proxy_ssl_context"] = context
    return urllib3.ProxyManager(f"{parts.scheme}://{hostport}", proxy_headers=headers, **proxy_ssl, **pool_args)


def typed_flags(options: ConnectionOptions) -> str:
    """The flags given that pick the cluster, the user and the namespace, for a command printed before any client is
    made (a usage error's hint): a namespace not given is found again the same way by the copied command."""
    namespace = ("-n", options.namespace) if options.namespace else ()
    return " ".join(shlex.quote(arg) for arg in (*namespace, *_reach_flags(options)))


def _reach_flags(options: ConnectionOptions) -> tuple:
    o = options.overrides
    # An absolute path, so that the printed command works from any folder it is copied into.
    kubeconfig_path = os.path.abspath(options.kubeconfig) if options.kubeconfig else None
    given = [("--kubeconfig", kubeconfig_path), ("--context", options.context), ("--cluster", o.cluster),
             ("--user", o.user), ("--server", o.server), ("--as", o.impersonate)]
    given += [("--as-group", group) for group in o.impersonate_groups]
    return tuple(part for flag, value in given if value for part in (flag, value))


def write_query(dry_run: DryRun, what: str) -> dict:
    """The query every write carries in `dry_run`'s mode; in a client dry run there is no write to send, and one that
    gets here is refused before it leaves (a step that forgot the mode must not change the cluster)."""
    if not dry_run.sends_writes:
        raise RollbackError(f"{what}: not sent, this is a client-side dry run (a bug: please report it)")
    return {"dryRun": DRY_RUN_ALL} if dry_run.server_side else {}


def _what(verb: str, resource: Resource, name: Optional[str], namespace: Optional[str]) -> str:
    """The request in words, for its error line; a cluster-scoped object (a ClusterAnalysisTemplate, a
    PriorityClass) is in no namespace, whatever namespace the client has."""
    target = f'{resource.qualified} "{name}"' if name else resource.qualified
    where = f'{_IN_NAMESPACE}{namespace}"' if namespace and resource.namespaced else ""
    return f"cannot {verb} {target}{where}"


def _backoff(attempt: int) -> float:
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))


def _retry_after(value: Optional[str]) -> Optional[float]:
    try:
        return min(BACKOFF_CAP_SECONDS, max(0.0, float(value))) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _may_succeed_again(exc: Exception) -> bool:
    """Whether sending the same request again could work: a refused or unresolvable connection, or a TLS failure,
    fails the same way at once (kubectl does not retry them either); a reset or a timeout may not."""
    import urllib3

    return not isinstance(exc, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.SSLError))


def _tls_error(exc: Exception) -> Optional[ssl.SSLError]:
    """The TLS library's error that urllib3 wraps, if that is what failed (a certificate authority that cannot be
    read, or does not verify the server)."""
    import urllib3

    reason = getattr(exc, "reason", None) or exc
    inner = reason.args[0] if isinstance(reason, urllib3.exceptions.SSLError) and reason.args else reason
    return inner if isinstance(inner, ssl.SSLError) else None


def _cause(exc: Exception) -> str:
    tls = _tls_error(exc)
    if tls is not None:  # its words whole: "[X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found"
        return re.sub(r"\s*\(_ssl\.c:\d+\)$", "", str(tls.args[-1] if tls.args else tls))
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    # urllib3 wraps the socket error in a long repr; the last part is the part that helps.
    cause = text.rsplit(": ", 1)[-1].strip(" '\"")
    while cause.endswith(")") and cause.count(")") > cause.count("("):  # the repr's closing, not the message's
        cause = cause[:-1].rstrip(" '\"")
    return cause or type(exc).__name__


_IN_NAMESPACE = ' in namespace "'  # how _what names the namespace of a request
_HINTS = {
    401: "the credentials in the kubeconfig were rejected; log in again or pick another --context",
    403: "ask a cluster admin for the Role in docs/rbac.yaml",
    404: "check the name and the namespace (-n)",
    409: "another client changed it at the same time; run the command again",
    422: "the server rejected the change as invalid",
    429: "the API server is overloaded; try again in a minute",
}


def _translate(what: str, status: int, data: bytes) -> ApiError:
    """An HTTP failure as one line: what failed, the server's reason and message, what to do."""
    reason, message = f"HTTP {status}", ""
    try:
        payload = json.loads(data)
        reason = payload.get("reason") or reason
        message = payload.get("message") or ""
    except (ValueError, AttributeError):
        message = data[:200].decode("utf-8", "replace").strip() if data else ""
    hint = _HINTS.get(status, "the API server failed; try again, and check its health if it persists")
    if status == 404 and _IN_NAMESPACE not in what:  # a cluster-scoped object: -n changes nothing
        hint = "check the name"
    text = f"{what}: {reason} ({status})"
    if message:
        text += f": {message}"
    text += f"; {hint}"
    cls = {403: ForbiddenError, 404: NotFoundError, 409: ConflictError}.get(status, ApiError)
    return cls(" ".join(text.split()), status=status, reason=reason, server_message=" ".join(message.split()))


def retry_on_conflict(attempt: Callable[[], Any], what: str, attempts: int = 5) -> Any:
    """Run a read-decide-write step again from a fresh read when its write lost a race (409), a bounded number of
    times. The step itself must re-read; this only repeats it."""
    for n in range(1, attempts):
        try:
            return attempt()
        except ConflictError:
            interrupts.unless_written()  # a stop told before the 409 ends a step that has written nothing there
            interrupts.sleep(_backoff(n))
    try:
        return attempt()
    except ConflictError as exc:
        raise ConflictError(
            f"{what}: the object kept changing under us ({attempts} conflicts in a row); "
            "another client is writing it: wait for it to finish, then run the command again",
            status=409,
        ) from exc
