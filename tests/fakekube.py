"""An in-memory stand-in for kubectl_rollback.kube.Kube, for fast unit tests of the paths the cluster suite alone
reached: races, lost answers, undo after a half-done write (Argo Rollouts' `options/fake` and Helm's
`actionConfigFixture` are the models).

`FakeApiServer` keeps plain JSON objects per resource, namespace and name and behaves as kube-apiserver does where
the plugin depends on it: every write gets a new resourceVersion; a write carrying a stale one is refused with 409;
workloads get metadata.generation, bumped when their spec changes, and ignore status written through the main
endpoint; a delete with a uid precondition refuses another object of the same name. The patch types are those the
plugin sends: merge, JSON patch (add, replace, remove, test), and strategic merge only as far as the plugin uses it
(a merge whose maps may carry `$patch: replace`); anything else fails loudly instead of being guessed.

`FakeKube` is the client: the methods of Kube with its signatures and its error translation (kube._translate), so
the commands see the same exceptions and messages as from a real server. Faults are armed per verb and call number:
an API error, a concurrent writer that acts just before the call is served, or a write that lands but whose answer
is lost (the retry that kube.py would send then meets the precondition: an ambiguous 409).

Not modelled: controllers (tests set status and create revision objects themselves), pagination, watches, RBAC.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import itertools
import json
import re
from typing import Any, Callable, Iterator, Optional

from kubectl_rollback import kube as real
from kubectl_rollback.errors import ConflictError
from kubectl_rollback.gitops import APPLICATIONS, ARGO_TRACKING_ID
from kubectl_rollback.kube import CONTROLLER_REVISIONS, DEPLOYMENTS, REPLICASETS, Resource
from kubectl_rollback.options import DryRun
from kubectl_rollback.records import CLUSTER_NAME, INFRA_ID, RECORDED_AT, SERVICE_ID, STATUS, WORKFLOW_ID

REVISION = "deployment.kubernetes.io/revision"

# Kinds whose registry strategy keeps metadata.generation and serves status only through the /status subresource.
GENERATION_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"})
REPLACE_DIRECTIVE = "$patch"

VERBS = ("get", "list", "patch", "create", "delete")


class StatusError(Exception):
    """What the fake server answers instead of an object: an HTTP status with the API's reason and message."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    def body(self) -> bytes:
        return json.dumps({"kind": "Status", "status": "Failure", "reason": self.reason,
                           "message": self.message, "code": self.status}).encode()


class FakeApiServer:
    """The state of one cluster: objects by (plural.group, namespace, name), and the resourceVersion counter."""

    def __init__(self) -> None:
        self.objects: dict = {}
        self._versions = itertools.count(1)
        self._uids = itertools.count(1)

    # -- reads -------------------------------------------------------------------------------------------------

    def get(self, resource: Resource, namespace: str, name: str) -> dict:
        return copy.deepcopy(self._stored(resource, namespace, name))

    def list(self, resource: Resource, namespace: str, label_selector: Optional[str] = None,
             field_selector: Optional[str] = None) -> list:
        matches = parse_selector(label_selector or "")
        fields = parse_field_selector(field_selector or "")
        return [
            copy.deepcopy(obj)
            for (qualified, ns, _), obj in sorted(self.objects.items())
            if qualified == resource.qualified and ns == namespace and matches(obj["metadata"].get("labels") or {})
            and fields(obj)
        ]

    def find(self, resource: Resource, namespace: str, name: str) -> Optional[dict]:
        """The object, or None when there is none (for assertions about what is gone)."""
        obj = self.objects.get((resource.qualified, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    # -- writes ------------------------------------------------------------------------------------------------

    def create(self, resource: Resource, namespace: str, body: dict, dry_run: bool = False) -> dict:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):  # as the API server does: a random suffix
            meta["name"] = f"{meta['generateName']}{next(self._uids):05d}"
        name = meta.get("name")
        if not name:
            raise StatusError(422, "Invalid", f"{resource.kind} is invalid: metadata.name: Required value")
        key = (resource.qualified, namespace, name)
        if key in self.objects:
            raise StatusError(409, "AlreadyExists", f'{resource.qualified} "{name}" already exists')
        meta["namespace"] = namespace
        meta["uid"] = meta.get("uid") or f"uid-{next(self._uids)}"
        meta.setdefault("creationTimestamp", _now())
        if resource.kind in GENERATION_KINDS:
            meta["generation"] = 1
        meta["resourceVersion"] = str(next(self._versions))
        obj.setdefault("apiVersion", f"{resource.group}/{resource.version}" if resource.group else resource.version)
        obj.setdefault("kind", resource.kind)
        if not dry_run:  # a dry run is checked as the create would be, and stores nothing
            self.objects[key] = obj
        return copy.deepcopy(obj)

    def patch(self, resource: Resource, namespace: str, name: str, body: Any, patch_type: str = "merge",
              dry_run: bool = False) -> dict:
        if patch_type == "apply" and (resource.qualified, namespace, name) not in self.objects:
            created = self.create(resource, namespace, body) if not dry_run else dict(copy.deepcopy(body))
            return created
        current = self._stored(resource, namespace, name)
        if patch_type == "apply":
            # Server-side apply as far as a re-apply of whole objects needs it: the fields sent win (force), lists
            # sent replace the live ones. Field ownership (managedFields) and removal of fields a manager no longer
            # sends are not modelled.
            patched = merge_patch(current, body)
        elif patch_type in ("merge", "strategic"):
            patched = merge_patch(current, body, strategic=patch_type == "strategic")
        elif patch_type == "json":
            patched = json_patch(current, body)
        else:
            raise StatusError(415, "UnsupportedMediaType", f"the fake does not serve patch type {patch_type!r}")
        return self._update(resource, current, patched, dry_run)

    def delete(self, resource: Resource, namespace: str, name: str, uid: Optional[str] = None,
               dry_run: bool = False) -> dict:
        current = self._stored(resource, namespace, name)
        if uid is not None and current["metadata"]["uid"] != uid:
            raise StatusError(409, "Conflict", f'Operation cannot be fulfilled on {resource.qualified} "{name}": '
                                               f"Precondition failed: UID in precondition: {uid}, "
                                               f"UID in object meta: {current['metadata']['uid']}")
        if not dry_run:
            del self.objects[(resource.qualified, namespace, name)]
            self._collect_garbage(current["metadata"]["uid"])
        return {"kind": "Status", "status": "Success"}

    # -- what controllers and other clients do -----------------------------------------------------------------

    def set_status(self, resource: Resource, namespace: str, name: str, status: dict) -> dict:
        """A write to the /status subresource (what a controller does): the status is replaced, the spec kept."""
        current = self._stored(resource, namespace, name)
        updated = copy.deepcopy(current)
        updated["status"] = copy.deepcopy(status)
        updated["metadata"]["resourceVersion"] = str(next(self._versions))
        self.objects[(resource.qualified, namespace, name)] = updated
        return copy.deepcopy(updated)

    # -- internals ---------------------------------------------------------------------------------------------

    def _stored(self, resource: Resource, namespace: str, name: str) -> dict:
        obj = self.objects.get((resource.qualified, namespace, name))
        if obj is None:
            raise StatusError(404, "NotFound", f'{resource.qualified} "{name}" not found')
        return obj

    def _update(self, resource: Resource, current: dict, updated: dict, dry_run: bool) -> dict:
        meta, old = updated.setdefault("metadata", {}), current["metadata"]
        name = old["name"]
        wanted = meta.get("resourceVersion")
        if wanted and wanted != old["resourceVersion"]:
            raise StatusError(409, "Conflict", f'Operation cannot be fulfilled on {resource.qualified} "{name}": '
                                               "the object has been modified; please apply your changes to the "
                                               "latest version and try again")
        if meta.get("name") != name or meta.get("uid", old["uid"]) != old["uid"]:
            raise StatusError(422, "Invalid", f"{resource.kind} \"{name}\" is invalid: metadata: name and uid "
                                              "cannot change")
        for field in ("namespace", "uid", "creationTimestamp"):
            meta[field] = old.get(field)
        if resource.kind in GENERATION_KINDS:
            # The main endpoint ignores status for these kinds; a spec change is a new generation.
            if "status" in current:
                updated["status"] = copy.deepcopy(current["status"])
            else:
                updated.pop("status", None)
            generation = old.get("generation", 1)
            meta["generation"] = generation + 1 if updated.get("spec") != current.get("spec") else generation
        if updated == current or dry_run:
            meta["resourceVersion"] = old["resourceVersion"]  # a no-op write, like a dry run, stores nothing
        else:
            meta["resourceVersion"] = str(next(self._versions))
            self.objects[(resource.qualified, old["namespace"], name)] = updated
        return copy.deepcopy(updated)

    def _collect_garbage(self, owner_uid: str) -> None:
        """Background propagation: the dependents go too (the garbage collector, done at once)."""
        for key, obj in list(self.objects.items()):
            owners = obj["metadata"].get("ownerReferences") or []
            if key in self.objects and any(ref.get("uid") == owner_uid for ref in owners):
                del self.objects[key]
                self._collect_garbage(obj["metadata"]["uid"])


# -- faults ------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Fault:
    """What happens to the `nth` call of `verb` (counting only calls on `resource`/`name` when those are set)."""

    verb: str
    nth: int
    resource: Optional[Resource] = None
    name: Optional[str] = None
    status: int = 0  # the API error answered instead of the call (0: none)
    applied: bool = False  # with status: the write landed before the error came back
    lose_answer: bool = False  # the write lands, its answer is lost, kube.py's retry meets the precondition
    before: Optional[Callable[[FakeApiServer], None]] = None  # a concurrent writer, just before the call
    seen: int = 0
    fired: bool = False

    def matches(self, verb: str, resource: Resource, name: Optional[str]) -> bool:
        return (verb == self.verb and (self.resource is None or self.resource == resource)
                and (self.name is None or self.name == name))


@dataclasses.dataclass(frozen=True)
class Call:
    verb: str
    resource: Resource
    namespace: str
    name: Optional[str]
    body: Any = None
    dry_run: bool = False
    label_selector: Optional[str] = None
    from_cache: bool = False  # a list the client asked of the API server's cache (Kube.from_cache)


class FakeKube:
    """The API seam the commands use (Kube's methods and attributes), served by a FakeApiServer."""

    def __init__(self, namespace: str = "default", cluster_name: Optional[str] = "test-cluster",
                 server: Optional[FakeApiServer] = None):
        self.namespace = namespace
        self.cluster_name = cluster_name
        self.host = "https://fake.invalid"
        self.server = server if server is not None else FakeApiServer()
        self.calls: list = []  # every Call made through this client and the ones made from it (in_namespace)
        self.faults: list = []
        self.not_served: set = set()  # resources discovery leaves out (a custom resource without its CRD)

    def whoami(self) -> Optional[str]:
        return "alice@example.test"  # as a SelfSubjectReview names the caller

    def command_flags(self) -> str:
        return f"-n {self.namespace}"

    def served_verbs(self, resource: Resource) -> Optional[frozenset]:
        """Kube.served_verbs: every resource is served with every verb, but those in `not_served`."""
        return None if resource in self.not_served else frozenset(("get", "list", "watch", "patch", "create",
                                                                   "delete"))

    def in_namespace(self, namespace: str) -> FakeKube:
        other = copy.copy(self)  # shares the server, the call log and the faults, as Kube shares its pool
        other.namespace = namespace
        return other

    dry_run = DryRun.NONE

    def bound_to(self, dry_run: DryRun) -> FakeKube:
        other = copy.copy(self)
        other.dry_run = max(self.dry_run, dry_run, key=real.DRY_RUN_STRICTNESS.index)
        return other

    lists_from_cache = False

    def from_cache(self) -> FakeKube:
        other = copy.copy(self)
        other.lists_from_cache = True
        return other

    def checking(self) -> FakeKube:
        other = copy.copy(self)
        other.dry_run = DryRun.SERVER
        return other

    def _dry_run(self, verb: str, resource: Resource, name: Optional[str], namespace: str) -> bool:
        """Kube.write_query's answer for this client's mode: a client dry run's write is refused, never served."""
        return bool(real.write_query(self.dry_run, real._what(verb, resource, name, namespace)))

    # -- arming faults -----------------------------------------------------------------------------------------

    def fail(self, verb: str, nth: int = 1, status: int = 500, applied: bool = False,
             resource: Optional[Resource] = None, name: Optional[str] = None) -> Fault:
        """The nth call of `verb` gets HTTP `status` (after kube.py's retries); with `applied`, a write lands first."""
        return self._arm(Fault(verb, nth, resource, name, status=status, applied=applied))

    def lose_answer(self, verb: str, nth: int = 1, resource: Optional[Resource] = None,
                    name: Optional[str] = None, meanwhile: Optional[Callable[[FakeApiServer], None]] = None) -> Fault:
        """The nth write of `verb` reaches the server but its answer does not come back; the same request is sent
        again, as kube.py does, and a preconditioned write then gets a 409 marked ambiguous. `meanwhile`: another
        client acts between the lost answer and the retry (so even a dry run's retry meets a changed object)."""
        return self._arm(Fault(verb, nth, resource, name, lose_answer=True, before=meanwhile))

    def before(self, verb: str, writer: Callable[[FakeApiServer], None], nth: int = 1,
               resource: Optional[Resource] = None, name: Optional[str] = None) -> Fault:
        """Another client acts (`writer(server)`) just before the nth call of `verb` is served."""
        return self._arm(Fault(verb, nth, resource, name, before=writer))

    def _arm(self, fault: Fault) -> Fault:
        if fault.verb not in VERBS or fault.nth < 1:
            raise ValueError(f"no such fault: {fault.verb} call {fault.nth}")
        if fault.lose_answer and fault.verb not in ("patch", "create", "delete"):
            raise ValueError("only a write can lose its answer")
        self.faults.append(fault)
        return fault

    # -- the verbs of Kube -------------------------------------------------------------------------------------

    def get(self, resource: Resource, name: str, namespace: Optional[str] = None) -> dict:
        ns = namespace or self.namespace
        return self._serve(Call("get", resource, ns, name), lambda: self.server.get(resource, ns, name))

    def list(self, resource: Resource, namespace: Optional[str] = None, label_selector: Optional[str] = None,
             field_selector: Optional[str] = None) -> list:
        return list(self.iter_list(resource, namespace, label_selector, field_selector))

    def iter_list(self, resource: Resource, namespace: Optional[str] = None, label_selector: Optional[str] = None,
                  field_selector: Optional[str] = None) -> Iterator[dict]:
        ns = namespace or self.namespace
        yield from self._serve(Call("list", resource, ns, None, label_selector=label_selector,
                                    from_cache=self.lists_from_cache),
                               lambda: self.server.list(resource, ns, label_selector, field_selector))

    def list_versioned(self, resource: Resource, all_namespaces: bool = False) -> tuple:
        """Kube.list_versioned for the watcher, in this namespace (the fake keeps no global resourceVersion)."""
        if all_namespaces:
            raise NotImplementedError("the fake lists one namespace at a time")
        return self.list(resource), "0"

    def patch(self, resource: Resource, name: str, body: Any, patch_type: str = "merge",
              namespace: Optional[str] = None, field_manager: Optional[str] = None, force: bool = False) -> dict:
        ns = namespace or self.namespace
        dry_run = self._dry_run("patch", resource, name, ns)
        if patch_type == "apply" and not (field_manager and force):
            raise ValueError("the plugin's server-side applies name their field manager and force")
        if patch_type not in real.PATCH_TYPES:
            raise KeyError(patch_type)  # as Kube does for a patch type it does not know
        return self._serve(Call("patch", resource, ns, name, copy.deepcopy(body), dry_run),
                           lambda: self.server.patch(resource, ns, name, body, patch_type, dry_run))

    def create(self, resource: Resource, body: dict, namespace: Optional[str] = None) -> dict:
        ns = namespace or self.namespace
        dry_run = self._dry_run("create", resource, None, ns)
        return self._serve(Call("create", resource, ns, None, copy.deepcopy(body), dry_run),
                           lambda: self.server.create(resource, ns, body, dry_run))

    def delete(self, resource: Resource, name: str, namespace: Optional[str] = None,
               uid: Optional[str] = None) -> dict:
        ns = namespace or self.namespace
        dry_run = self._dry_run("delete", resource, name, ns)
        return self._serve(Call("delete", resource, ns, name, {"uid": uid}, dry_run),
                           lambda: self.server.delete(resource, ns, name, uid, dry_run))

    # -- what the tests read back ------------------------------------------------------------------------------

    def writes(self, resource: Optional[Resource] = None, dry_runs: bool = True) -> list:
        """The write calls made (on `resource`), dry runs included unless `dry_runs` is False, in order."""
        return [c for c in self.calls if c.verb in ("patch", "create", "delete")
                and (resource is None or c.resource == resource) and (dry_runs or not c.dry_run)]

    def stored(self, resource: Resource, name: str, namespace: Optional[str] = None) -> Optional[dict]:
        return self.server.find(resource, namespace or self.namespace, name)

    # -- serving -----------------------------------------------------------------------------------------------

    def _serve(self, call: Call, handler: Callable[[], Any]) -> Any:
        self.calls.append(call)
        what = real._what(call.verb, call.resource, call.name, call.namespace)
        fault = self._fault_for(call)
        try:
            if fault is None:
                return handler()
            if fault.lose_answer:
                handler()  # it lands; the answer is lost on the way back
                if fault.before is not None:
                    fault.before(self.server)
                try:
                    return handler()  # kube.py sends the same request again
                except StatusError as again:
                    error = real._translate(what, again.status, again.body())
                    if isinstance(error, ConflictError):
                        error.ambiguous = True
                    raise error from None
            if fault.before is not None:
                fault.before(self.server)
                return handler()
            if fault.applied:
                handler()
            injected = StatusError(fault.status, _REASONS.get(fault.status, "InternalError"), "injected by the test")
            raise real._translate(what, injected.status, injected.body())
        except StatusError as refused:
            raise real._translate(what, refused.status, refused.body()) from None

    def _fault_for(self, call: Call) -> Optional[Fault]:
        chosen = None
        for fault in self.faults:
            if fault.fired or not fault.matches(call.verb, call.resource, call.name):
                continue
            fault.seen += 1
            if fault.seen == fault.nth and chosen is None:
                fault.fired = True
                chosen = fault
        return chosen


_REASONS = {403: "Forbidden", 404: "NotFound", 409: "Conflict", 422: "Invalid", 429: "TooManyRequests",
            500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


# -- patches -----------------------------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any, strategic: bool = False) -> Any:
    """RFC 7386 JSON merge patch. With `strategic`, also the one strategic-merge directive the plugin sends (for
    ControllerRevision kinds): a map carrying `$patch: replace` replaces the map it lands on. Lists are replaced
    whole either way; list merge keys and other directives are not served."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if strategic:
        directives = {k: v for k, v in patch.items() if k.startswith("$")}
        if directives == {REPLACE_DIRECTIVE: "replace"}:
            return {k: _without_directives(v) for k, v in patch.items() if k != REPLACE_DIRECTIVE}
        if directives:
            raise NotImplementedError(f"the fake serves no strategic-merge directive {directives}")
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value, strategic)
    return result


def _without_directives(value: Any) -> Any:
    if isinstance(value, dict):
        if REPLACE_DIRECTIVE in value:
            raise NotImplementedError("the fake serves no nested $patch directive")
        return {k: _without_directives(v) for k, v in value.items()}
    return copy.deepcopy(value)


def json_patch(target: Any, operations: list) -> Any:
    """RFC 6902, the operations the plugin sends (add, replace, remove) and test; a failing op is a 422."""
    document = copy.deepcopy(target)
    for op in operations:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        if not parts:
            raise NotImplementedError("the fake serves no operation on the whole document")
        parent = document
        for part in parts[:-1]:
            parent = _child(parent, part, op)
        last = parts[-1]
        kind = op["op"]
        if kind == "add":
            if isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), copy.deepcopy(op["value"]))
            else:
                parent[last] = copy.deepcopy(op["value"])
        elif kind in ("replace", "remove", "test"):
            current = _child(parent, last, op)
            if kind == "test" and current != op["value"]:
                raise StatusError(422, "Invalid", f"the test of {op['path']} failed")
            if kind == "replace":
                parent[int(last) if isinstance(parent, list) else last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[int(last) if isinstance(parent, list) else last]
        else:
            raise NotImplementedError(f"the fake serves no JSON-patch op {kind!r}")
    return document


def _child(parent: Any, part: str, op: dict) -> Any:
    try:
        return parent[int(part)] if isinstance(parent, list) else parent[part]
    except (KeyError, IndexError, ValueError, TypeError):
        raise StatusError(422, "Invalid", f"the server rejected our patch: {op['op']} {op['path']}: "
                                          "missing path") from None


# -- label selectors ---------------------------------------------------------------------------------------------

_TERM = re.compile(r"^\s*(?P<key>[^\s!=(),]+)\s*(?:(?P<op>==|=|!=|\s+in\s+|\s+notin\s+)\s*(?P<value>.*?))?\s*$")


def parse_selector(text: str) -> Callable[[dict], bool]:
    """The label-selector query syntax the API accepts (=, ==, !=, in, notin, KEY, !KEY), as a predicate."""
    predicates = [_term(t) for t in _split_terms(text) if t.strip()]
    return lambda labels: all(p(labels) for p in predicates)


def _split_terms(text: str) -> list:
    terms, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _term(term: str) -> Callable[[dict], bool]:
    term = term.strip()
    if term.startswith("!"):
        key = term[1:].strip()
        return lambda labels: key not in labels
    match = _TERM.match(term)
    if match is None:
        raise ValueError(f"not a label selector term: {term!r}")
    key, op, value = match["key"], (match["op"] or "").strip(), match["value"]
    if not op:
        return lambda labels: key in labels
    if op in ("=", "=="):
        return lambda labels: labels.get(key) == value
    if op == "!=":
        return lambda labels: labels.get(key) != value
    values = {v.strip() for v in value.strip().strip("()").split(",") if v.strip()}
    if op == "in":
        return lambda labels: labels.get(key) in values
    return lambda labels: labels.get(key) not in values


_FIELD_SELECTABLE = {"type": ("type",), "metadata.name": ("metadata", "name"), "reason": ("reason",),
                     "involvedObject.uid": ("involvedObject", "uid")}


def parse_field_selector(text: str) -> Callable[[dict], bool]:
    """The field selectors the plugin sends (`type=...`, e.g. for Secrets, metadata.name, and an Event's
    involvedObject.uid and reason), as a predicate over an
    object; any other field fails loudly, as the fake guesses nothing."""
    terms = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        field, _, value = term.partition("=")
        if field not in _FIELD_SELECTABLE:
            raise NotImplementedError(f"the fake serves no field selector on {field!r}")
        terms.append((_FIELD_SELECTABLE[field], value.lstrip("=")))

    def matches(obj: dict) -> bool:
        for path, value in terms:
            found: Any = obj
            for part in path:
                found = found.get(part) if isinstance(found, dict) else None
            if found != value:
                return False
        return True

    return matches


# -- seeding workloads the way their controllers leave them ------------------------------------------------------


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def recorded(status: str, workflow: str = "wf1", service: str = "svc") -> dict:
    """The annotations `record` leaves (docs/annotations.md) for the fake's cluster, infra "infra"."""
    return {STATUS: status, WORKFLOW_ID: workflow, SERVICE_ID: service, INFRA_ID: "infra",
            CLUSTER_NAME: "test-cluster", RECORDED_AT: "2026-01-01T00:00:00Z"}


def owner_reference(owner: dict) -> dict:
    return {"apiVersion": owner.get("apiVersion", "apps/v1"), "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"], "controller": True}


def pod_template(labels: dict, image: str) -> dict:
    return {"metadata": {"labels": dict(labels)}, "spec": {"containers": [{"name": "app", "image": image}]}}


def add_deployment(kube: FakeKube, name: str, images: list, live: int = -1, labels: Optional[dict] = None,
                   annotations: Optional[list] = None, replicas: int = 1) -> tuple:
    """A Deployment whose ReplicaSets are revisions 1..len(images) of `images`, as the deployment controller leaves
    them: owned, numbered, with a pod-template-hash; revision `live` (an index into images) is the Deployment's
    template, and its status is rolled out. The pods carry `labels` (app=NAME unless given), all of them selected.
    `annotations[i]` goes on ReplicaSet i. Returns (deployment, [replicasets])."""
    labels = dict({"app": name}, **(labels or {}))
    selector = {"matchLabels": dict(labels)}
    server, ns = kube.server, kube.namespace
    deployment = server.create(DEPLOYMENTS, ns, {
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": selector, "template": pod_template(labels, images[live])},
    })
    sets = []
    for number, image in enumerate(images, start=1):
        template = pod_template(dict(labels, **{"pod-template-hash": f"h{number}"}), image)
        rs_annotations = dict((annotations or [{}] * len(images))[number - 1] or {})
        rs_annotations[REVISION] = str(number)
        sets.append(server.create(REPLICASETS, ns, {
            "metadata": {"name": f"{name}-h{number}", "labels": template["metadata"]["labels"],
                         "annotations": rs_annotations, "ownerReferences": [owner_reference(deployment)]},
            "spec": {"replicas": 0, "selector": selector, "template": template},
        }))
    deployment = server.set_status(DEPLOYMENTS, ns, name, rolled_out_deployment_status(deployment))
    return deployment, sets


def observe_deployment(server: FakeApiServer, namespace: str, name: str) -> None:
    """What the deployment controller does once it sees a new template: the ReplicaSet holding that template becomes
    the newest revision (a rolled-back-to one is renumbered, its old number kept in revision-history), and the
    Deployment's new generation is observed and rolled out. Nothing when it has observed its generation already."""
    deployment = server.get(DEPLOYMENTS, namespace, name)
    if deployment.get("status", {}).get("observedGeneration") == deployment["metadata"]["generation"]:
        return
    uid = deployment["metadata"]["uid"]
    owned = [rs for rs in server.list(REPLICASETS, namespace)
             if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences", []))]
    numbers = {rs["metadata"]["name"]: int(rs["metadata"]["annotations"][REVISION]) for rs in owned}
    wanted = deployment["spec"]["template"]["spec"]
    restored = next(rs for rs in owned if rs["spec"]["template"]["spec"] == wanted)
    number = numbers[restored["metadata"]["name"]]
    if number != max(numbers.values()):
        server.patch(REPLICASETS, namespace, restored["metadata"]["name"], {"metadata": {"annotations": {
            REVISION: str(max(numbers.values()) + 1), f"{REVISION}-history": str(number)}}})
    server.set_status(DEPLOYMENTS, namespace, name, rolled_out_deployment_status(deployment))


def run_deployment_controller(kube: FakeKube, name: str, reads: int = 20) -> None:
    """`observe_deployment` before each of the next `reads` reads of deployment/NAME: a controller that has caught up
    by the time anyone looks."""
    for nth in range(1, reads + 1):
        kube.before("get", lambda server: observe_deployment(server, kube.namespace, name), nth=nth,
                    resource=DEPLOYMENTS, name=name)


def track_by_argo_cd(kube: FakeKube, name: str) -> None:
    """deployment/NAME tracked (Argo CD's tracking-id annotation) by Application argocd/NAME with self-heal on: an
    owner that would undo a rollback (docs/gitops.md)."""
    kube.server.patch(DEPLOYMENTS, kube.namespace, name, {"metadata": {"annotations": {
        ARGO_TRACKING_ID: f"{name}:apps/Deployment:{kube.namespace}/{name}"}}})
    kube.server.create(APPLICATIONS, "argocd", {"metadata": {"name": name},
                                               "spec": {"syncPolicy": {"automated": {"selfHeal": True}}}})


def rolled_out_deployment_status(deployment: dict) -> dict:
    replicas = deployment["spec"].get("replicas", 1)
    return {"observedGeneration": deployment["metadata"]["generation"], "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}


def add_controller_revision_workload(kube: FakeKube, resource: Resource, name: str, images: list, live: int = -1,
                                     annotations: Optional[list] = None, labels: Optional[dict] = None) -> tuple:
    """A StatefulSet or DaemonSet with ControllerRevisions 1..len(images), each holding its template as the
    controller stores it (`$patch: replace`), and the status its controller leaves once the live one is rolled out.
    Returns (workload, [controllerrevisions])."""
    labels = dict({"app": name}, **(labels or {}))
    server, ns = kube.server, kube.namespace
    spec: dict = {"selector": {"matchLabels": labels}, "template": pod_template(labels, images[live])}
    if resource.kind == "StatefulSet":
        spec.update(replicas=1, serviceName=name)
    workload = server.create(resource, ns, {"metadata": {"name": name}, "spec": spec})
    revisions = []
    for number, image in enumerate(images, start=1):
        template = dict(pod_template(labels, image), **{REPLACE_DIRECTIVE: "replace"})
        revisions.append(server.create(CONTROLLER_REVISIONS, ns, {
            "metadata": {"name": f"{name}-r{number}", "labels": dict(labels),
                         "annotations": dict((annotations or [{}] * len(images))[number - 1] or {}),
                         "ownerReferences": [owner_reference(workload)]},
            "data": {"spec": {"template": template}},
            "revision": number,
        }))
    status: dict = {"observedGeneration": workload["metadata"]["generation"]}
    if resource.kind == "StatefulSet":
        live_name = revisions[live]["metadata"]["name"]
        status.update(replicas=1, readyReplicas=1, updatedReplicas=1, currentRevision=live_name,
                      updateRevision=live_name)
    workload = server.set_status(resource, ns, name, status)
    return workload, revisions
