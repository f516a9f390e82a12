"""Least privilege: the Roles in docs/rbac.yaml, each bound alone to the `limited` user, on the real cluster.

For each Role: every command it is meant for fails cleanly before the binding (exit 1, one `error:` line naming
the missing verb, resource and namespace) and succeeds with it; the effective rules of the user are exactly the
Role's (`kubectl auth can-i --list`); and the plugin, run through a recording proxy, used every verb the Role
grants (none is there for nothing) and nothing else.
"""

import json
import re
from pathlib import Path

import pytest
import yaml

from tests import harness_fixtures as hf
from tests import manifests
from tests import scenarios as sc
from tests.cluster.controlplane import LIMITED_TOKEN
from tests.cluster.faultproxy import FaultProxy, Rule, kubeconfig_for, status

RBAC_YAML = Path(__file__).resolve().parents[1] / "docs" / "rbac.yaml"
GROUPS = {
    "deployments": "apps", "statefulsets": "apps", "daemonsets": "apps", "replicasets": "apps",
    "controllerrevisions": "apps", "services": "", "endpoints": "", "pods": "", "events": "", "configmaps": "",
    "secrets": "", "analysistemplates": "argoproj.io", "serviceaccounts": "", "persistentvolumeclaims": "",
}


RELEASE_PLACEHOLDER = "REPLACE-ME-RELEASE-NAME"
_TABLE_ROW = re.compile(r"^#   (\S.*?)\s{2,}(harness-rollback-\S.*)$")


def table_roles(use: str) -> list:
    """The Roles the table at the top of docs/rbac.yaml names for `use` (its first column), in order."""
    for line in RBAC_YAML.read_text().splitlines():
        row = _TABLE_ROW.match(line)
        if row and row.group(1).strip() == use:
            return re.findall(r"harness-rollback-[a-z-]+", row.group(2))
    raise AssertionError(f"docs/rbac.yaml names no Roles for {use!r}")


def grants(spec: str) -> frozenset:
    """'deployments,statefulsets:get,list; events:create' -> {(resource, verb), ...}"""
    pairs = set()
    for part in spec.split(";"):
        resources, verbs = part.split(":")
        pairs |= {(r.strip(), v.strip()) for r in resources.split(",") for v in verbs.split(",")}
    return frozenset(pairs)


# What each use sends to the API server, derived from the code (see the comments in docs/rbac.yaml).
HISTORY = "harness-rollback-history"
RECORD = "harness-rollback-record"
ROLLBACK = "harness-rollback-rollback"
BLUEGREEN = "harness-rollback-bluegreen"
HARNESS = "harness-rollback-harness-history"
HARNESS_BOOK = "harness-rollback-harness-book"
HARNESS_BY_NAME = "harness-rollback-harness-release-by-name"  # a template: resourceNames R
CONFIG = "harness-rollback-config"
CONFIG_SECRETS = "harness-rollback-config-secrets"
VERIFY = "harness-rollback-verify"
PREFLIGHT = "harness-rollback-preflight"
ROLES = {
    HISTORY: grants("deployments,statefulsets,daemonsets:get,list; replicasets,controllerrevisions:list;"
                    "services:get,list"),
    RECORD: grants("deployments,statefulsets,daemonsets:get; replicasets,controllerrevisions:get,list,patch;"
                   "pods:list"),  # pods: --follow of an OnDelete StatefulSet or DaemonSet
    ROLLBACK: grants("deployments:get,list,patch,delete; statefulsets,daemonsets:get,list,patch;"
                     "replicasets,controllerrevisions:get,list,patch; events:create;"
                     "pods:list,delete"),  # pods: a StatefulSet's pods stuck on the revision left
    PREFLIGHT: grants("serviceaccounts,persistentvolumeclaims:get; pods:create"),  # docs/preflight.md
    BLUEGREEN: grants("services:get,list,patch; endpoints:get; pods:list; deployments,replicasets:list;"
                      "events:create"),
    HARNESS: grants("configmaps:get; secrets:get,list"),
    HARNESS_BOOK: grants("configmaps,secrets:patch"),
    HARNESS_BY_NAME: grants("configmaps,secrets:get,patch"),
    CONFIG: grants("configmaps:get,create,patch"),  # config snapshots (tests/test_config_rollback.py)
    CONFIG_SECRETS: grants("secrets:get,create,patch"),
    VERIFY: grants("analysistemplates:get; secrets:get"),  # docs/verify.md: templates and their args' Secrets
}

_DISCOVERY = re.compile(r"/api(/v1)?|/apis(/[^/]+/[^/]+)?")
_API_PATH = re.compile(r"^/(?:api/v1|apis/[^/]+/v1)/namespaces/[^/]+/([^/]+)(/[^/]+)?$")
_VERBS = {"GET": "get", "PATCH": "patch", "POST": "create", "DELETE": "delete", "PUT": "update"}
_CAN_I_ROW = re.compile(r"^(\S+)\s+\[\]\s+\[[^\]]*\]\s+\[([^\]]*)\]\s*$")


class Limited:
    """The `limited` user in one namespace: the plugin through a recording proxy, kubectl directly."""

    def __init__(self, ns, cluster, proxy: FaultProxy, kubeconfig: str):
        self.ns = ns
        self.proxy = proxy
        self.env = dict(cluster.env, KUBECONFIG=kubeconfig)
        self.direct_env = dict(cluster.env, KUBECONFIG=cluster.plane.limited_kubeconfig)

    def plugin(self, *args: str, direct: bool = False):
        return self.ns.plugin(*args, env=self.direct_env if direct else self.env)

    def ok(self, *args: str, direct: bool = False):
        proc = self.plugin(*args, direct=direct)
        assert proc.returncode == 0, f"{' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        assert "warning:" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        return proc

    def json(self, *args: str) -> dict:
        return json.loads(self.ok(*args, "-o", "json").stdout)

    def denied(self, verb: str, resource: str, *args: str, direct: bool = False):
        """The command fails cleanly, naming the verb, resource and namespace it lacks."""
        proc = self.plugin(*args, direct=direct)
        assert proc.returncode == 1, f"{' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert f'cannot {verb} resource "{resource}"' in lines[0], lines[0]
        assert f'in the namespace "{self.ns.name}"' in lines[0], lines[0]
        assert "docs/rbac.yaml" in lines[0] and "Traceback" not in proc.stderr, lines[0]
        return proc

    def used(self) -> set:
        """(resource, verb) of every request the plugin sent through the proxy and the server did not refuse."""
        seen = set()
        for request in self.proxy.requests:
            if request.path.endswith("/selfsubjectreviews"):
                continue  # "who am I" (the rollback Event names the user): granted to every user, as `auth can-i` is
            if request.method == "GET" and _DISCOVERY.fullmatch(request.path.split("?")[0]):
                continue  # which kinds the cluster serves: discovery, granted to every user (system:discovery)
            match = _API_PATH.match(request.path)
            assert match, f"unexpected request {request.method} {request.path}"
            verb = "list" if request.method == "GET" and not match.group(2) else _VERBS[request.method]
            if request.outcome != 403:
                seen.add((match.group(1), verb))
        return seen

    def rules(self) -> set:
        """The user's effective (resource, verb) pairs in the namespace, from `kubectl auth can-i --list`."""
        out = self.ns.kubectl("auth", "can-i", "--list", env=self.direct_env).stdout
        pairs = set()
        for line in out.splitlines():
            row = _CAN_I_ROW.match(line)
            if row and not row.group(1).startswith("selfsubject"):
                pairs |= {(row.group(1).split(".")[0], v) for v in row.group(2).split()}
        return pairs

    def can_i(self, verb: str, resource: str) -> bool:
        proc = self.ns.kubectl("auth", "can-i", verb, resource, env=self.direct_env, check=False)
        return proc.returncode == 0 and proc.stdout.strip() == "yes"

    def bind(self, *roles: str, expect: frozenset = None) -> None:
        """RoleBindings of `roles` to the user; returns once the API server authorizes them (they take a moment)."""
        for role in roles:
            self.ns.kubectl("create", "rolebinding", role, f"--role={role}", "--user=limited")
        wanted = expect if expect is not None else frozenset().union(*(ROLES[r] for r in roles))
        self.ns.wait_until(lambda: self.rules() >= wanted, f"the RoleBindings of {', '.join(roles)}")


@pytest.fixture
def limited(ns, cluster, tmp_path):
    ns.kubectl("apply", "-f", str(RBAC_YAML))
    assert ns.items("rolebindings") == []  # applying the file grants nothing by itself
    with FaultProxy(cluster.plane.server, cluster.plane.ca_file) as proxy:
        path = tmp_path / "limited-proxy.kubeconfig"
        path.write_text(kubeconfig_for(proxy, LIMITED_TOKEN))
        yield Limited(ns, cluster, proxy, str(path))


def revision_objects(ns, resource: str, app: str) -> dict:
    """Revision number -> the ReplicaSet or ControllerRevision of app."""
    objects = ns.items(resource, "-l", f"app={app}")
    if resource == "replicasets":
        return {int(o["metadata"]["annotations"]["deployment.kubernetes.io/revision"]): o for o in objects}
    return {o["revision"]: o for o in objects}


def revision_annotations(ns, resource: str, app: str) -> dict:
    """Revision number -> the annotations of the ReplicaSet or ControllerRevision of app."""
    return {number: o["metadata"].get("annotations") or {} for number, o in revision_objects(ns, resource, app).items()}


def assert_booked(ns, resource: str, app: str) -> None:
    """The audit annotations of a rollback from revision 2 (InProgress, now Failed) to the Succeeded one, which
    the controller may have renumbered by now."""
    revisions = revision_annotations(ns, resource, app)
    assert revisions[2]["harness.io/status"] == "Failed", (app, revisions)
    targets = [a for a in revisions.values() if a.get("harness.io/rolled-back-from") == "2"]
    assert [a["harness.io/status"] for a in targets] == ["Succeeded"], (app, revisions)


def rollback_events(ns, name: str) -> list:
    events = ns.items("events", "--field-selector", f"involvedObject.name={name}")
    return [e for e in events if e["reason"] == "HarnessRollback"]


# -- the file itself ---------------------------------------------------------------------------------------------


def test_rbac_yaml_holds_one_role_per_use_with_exactly_the_derived_verbs():
    documents = [d for d in yaml.safe_load_all(RBAC_YAML.read_text()) if d]
    assert [d["kind"] for d in documents] == ["Role"] * len(ROLES)  # bindings are examples, commented out
    assert [d["metadata"]["name"] for d in documents] == list(ROLES)
    for role in documents:
        name = role["metadata"]["name"]
        assert "namespace" not in role["metadata"], name  # applied with -n NAMESPACE
        granted = set()
        for rule in role["rules"]:
            # no URLs; resourceNames only in the by-name template, naming its placeholder
            names = {"resourceNames"} if name == HARNESS_BY_NAME else set()
            assert set(rule) == {"apiGroups", "resources", "verbs"} | names, (name, rule)
            assert rule.get("resourceNames", [RELEASE_PLACEHOLDER]) == [RELEASE_PLACEHOLDER], (name, rule)
            for resource in rule["resources"]:
                assert rule["apiGroups"] == [GROUPS[resource]], (name, resource)
                granted |= {(resource, verb) for verb in rule["verbs"]}
        assert granted == ROLES[name], name
    readers = [name for name, pairs in ROLES.items() if any(r == "secrets" for r, _ in pairs)]
    assert readers == [HARNESS, HARNESS_BOOK, HARNESS_BY_NAME, CONFIG_SECRETS, VERIFY]
    text = RBAC_YAML.read_text()
    assert "# kind: RoleBinding" in text and "REPLACE-ME" in text and "kubectl apply -n" in text


# -- one Role at a time, on the cluster --------------------------------------------------------------------------


def test_history_role_reads_every_kind_and_writes_nothing(ns, limited):
    for tag, state in (("1", "Succeeded"), ("2-broken", "Failed")):
        sc.deploy_and_record(ns, "deployment/web", sc.labelled(manifests.deployment("web", f"example.test/web:{tag}"),
                                                               sc.RELEASE), state, *sc.IDENTITY, rollout=False)
    ns.apply(sc.labelled(manifests.statefulset("db", "example.test/db:1"), sc.RELEASE))
    ns.apply(manifests.daemonset("agent", "example.test/agent:1"))
    ns.apply(manifests.colour_deployment("shop", "blue", "example.test/shop:1", replicas=1))
    ns.apply(manifests.colour_service("shop", "shop", "blue", "primary"))
    ns.apply(manifests.colour_service("shop-stage", "shop", "green", "stage"))
    commands = {
        ("get", "deployments"): ("history", "deployment/web"),
        ("get", "statefulsets"): ("history", "statefulset/db"),
        ("get", "daemonsets"): ("history", "daemonset/agent"),
        ("list", "deployments"): ("history", "--all"),
        ("get", "services"): ("history", "service/shop"),
    }
    for (verb, resource), args in commands.items():
        limited.denied(verb, resource, *args, direct=True)
    limited.denied("list", "deployments", "history", "--release-name", "r1")

    limited.bind(HISTORY)
    assert limited.rules() == ROLES[HISTORY]
    web = limited.json("history", "deployment/web")
    assert [(r["revision"], r["status"]) for r in web["revisions"]] == [(2, "Failed"), (1, "Succeeded")]
    assert (web["liveRevision"], web["rollbackTarget"]) == (2, 1)
    for workload in ("statefulset/db", "daemonset/agent"):
        assert limited.json("history", workload)["liveRevision"] == 1, workload
    everything = limited.json("history", "--all")
    assert sorted(w["workload"] for w in everything["workloads"]) == [
        "daemonset/agent", "deployment/shop-blue", "deployment/web", "statefulset/db"]
    release = limited.json("history", "--release-name", "r1")
    assert sorted(w["workload"] for w in release["workloads"]) == ["deployment/web", "statefulset/db"]
    assert limited.json("history", "service/shop")["liveColor"] == "blue"
    assert limited.ok("history", "deployment/web", direct=True).stdout.startswith("deployment/web in namespace")
    assert limited.used() == ROLES[HISTORY]

    # read-only: no write of any kind goes through, and nothing changes
    before = ns.get("deployment", "web")["metadata"]["resourceVersion"]
    limited.denied("patch", "deployments", "rollback", "deployment/web")
    limited.denied("patch", "deployments", "rollback", "deployment/web", "--dry-run=server")
    limited.denied("patch", "replicasets", "record", "deployment/web", "--status", "Succeeded")
    assert ns.get("deployment", "web")["metadata"]["resourceVersion"] == before
    assert revision_annotations(ns, "replicasets", "web")[2]["harness.io/status"] == "Failed"
    assert not limited.can_i("patch", "deployments") and not limited.can_i("get", "replicasets")
    assert not limited.can_i("get", "secrets") and not limited.can_i("create", "events")


def test_record_role_records_every_kind_and_nothing_else(ns, limited):
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    ns.apply(manifests.statefulset("db", "example.test/db:1"))
    ns.apply(manifests.daemonset("agent", "example.test/agent:1"))
    for workload in ("deployment/web", "statefulset/db", "daemonset/agent"):
        limited.denied("get", workload.split("/")[0] + "s", "record", workload, "--status", "Succeeded", *sc.IDENTITY)
    limited.denied("get", "deployments", "record", "deployment/web", "--follow", *sc.IDENTITY, direct=True)

    limited.bind(RECORD)
    assert limited.rules() == ROLES[RECORD]
    # a lost race on each first write: the plugin re-reads that one revision object (get) and writes again
    races = [limited.proxy.add_rule(Rule(status(409), method="PATCH", path=f"/{resource}/"))
             for resource in ("replicasets", "controllerrevisions")]
    limited.ok("record", "deployment/web", "--status", "Succeeded", *sc.IDENTITY, "--release-number", "7")
    limited.ok("record", "statefulset/db", "--status", "Succeeded", *sc.IDENTITY)
    limited.ok("record", "daemonset/agent", "--status", "Failed", *sc.IDENTITY)
    assert [race.used for race in races] == [1, 1]
    ns.apply(manifests.deployment("web", "example.test/web:2"))
    followed = limited.ok("record", "deployment/web", "--follow", "--timeout", "90s", *sc.IDENTITY)
    assert "Succeeded" in followed.stdout, followed.stdout
    # an OnDelete StatefulSet's rollout is judged from its pods (list pods)
    ns.apply(manifests.on_delete(manifests.statefulset("odb", "example.test/odb:1")))
    followed = limited.ok("record", "statefulset/odb", "--follow", "--timeout", "90s", *sc.IDENTITY)
    assert "Succeeded" in followed.stdout and "1 of 1 pods on this revision ready" in followed.stderr, followed
    assert limited.used() == ROLES[RECORD]

    web = revision_annotations(ns, "replicasets", "web")
    assert (web[1]["harness.io/status"], web[1]["harness.io/release-number"]) == ("Succeeded", "7")
    assert (web[2]["harness.io/status"], web[2]["harness.io/artifact"]) == ("Succeeded", "example.test/web:2")
    assert revision_annotations(ns, "controllerrevisions", "db")[1]["harness.io/status"] == "Succeeded"
    assert revision_annotations(ns, "controllerrevisions", "agent")[1]["harness.io/status"] == "Failed"
    # the workload itself is never written by record, and cannot be by this Role
    limited.denied("patch", "deployments", "rollback", "deployment/web", "--to-revision", "1", "--force")
    assert sc.live_image(ns, "deployment", "web") == "example.test/web:2"
    limited.denied("list", "deployments", "history", "--all")
    assert not limited.can_i("patch", "statefulsets") and not limited.can_i("create", "events")


def test_rollback_role_rolls_back_workloads_releases_and_canaries(ns, limited):
    made = {"deployment/web": manifests.deployment("web", "example.test/web:{tag}"),
            "statefulset/db": manifests.statefulset("db", "example.test/db:{tag}"),
            "daemonset/agent": manifests.daemonset("agent", "example.test/agent:{tag}")}
    for tag, state in (("1", "Succeeded"), ("2-broken", "InProgress")):
        for workload, manifest in made.items():
            sc.deploy_and_record(ns, workload, sc.labelled(manifest.replace("{tag}", tag), sc.RELEASE), state,
                                 *sc.IDENTITY, rollout=workload == "deployment/web")
    ns.apply(manifests.canary("web", "example.test/web:2-broken"))
    limited.denied("get", "deployments", "rollback", "deployment/web", "--wait", direct=True)
    limited.denied("get", "statefulsets", "rollback", "statefulset/db")
    limited.denied("list", "deployments", "rollback", "--release-name", "r1")
    assert sc.live_image(ns, "deployment", "web") == "example.test/web:2-broken"

    limited.bind(ROLLBACK)
    assert limited.rules() == ROLES[ROLLBACK]
    # the controller may or may not beat the plugin's "recorded Failed" write on the revision it leaves (revision 2);
    # make that write lose once for each kind, so the re-read (get) that then decides whether to write again is
    # exercised (the audit write on the target needs no re-read)
    for resource, app in (("replicasets", "web"), ("controllerrevisions", "db")):
        left = revision_objects(ns, resource, app)[2]["metadata"]["name"]
        limited.proxy.add_rule(Rule(status(409), method="PATCH", path=f"/{resource}/{left}$"))
    proc = limited.ok("rollback", "deployment/web", "--wait", "--timeout", "90s")
    assert "rolled back from revision 2" in proc.stdout and "to revision 1" in proc.stdout, proc.stdout
    assert "deployment/web-canary deleted (canary)" in proc.stdout and "rolled out" in proc.stderr
    assert sc.live_image(ns, "deployment", "web") == "example.test/web:1"
    ns.wait_until(lambda: ns.kubectl("get", "deployment/web-canary", check=False).returncode != 0, "canary deletion")
    assert_booked(ns, "replicasets", "web")
    assert rollback_events(ns, "web")

    release = limited.json("rollback", "--release-name", "r1")
    assert {r["workload"]: r["outcome"] for r in release["results"]} == {
        "deployment/web": "nothing to do", "statefulset/db": "rolled back", "daemonset/agent": "rolled back"}
    assert (sc.live_image(ns, "statefulset", "db"), sc.live_image(ns, "daemonset", "agent")) == (
        "example.test/db:1", "example.test/agent:1")
    for app in ("db", "agent"):
        assert_booked(ns, "controllerrevisions", app)
        assert rollback_events(ns, app), app
    assert limited.used() == ROLES[ROLLBACK]
    assert not limited.can_i("patch", "services") and not limited.can_i("delete", "statefulsets")


def test_bluegreen_role_routes_traffic_back(ns, limited):
    ns.apply(manifests.colour_service("shop", "shop", "green", "primary"))
    ns.apply(manifests.colour_service("shop-stage", "shop", "blue", "stage"))
    for color, tag, state in (("blue", "1", "Succeeded"), ("green", "2", "Failed")):
        ns.apply(manifests.colour_deployment("shop", color, f"example.test/shop:{tag}", replicas=1))
        ns.rollout_status(f"deployment/shop-{color}")
        ns.plugin("record", f"deployment/shop-{color}", "--status", state, *sc.IDENTITY, check=True)
    limited.denied("get", "services", "history", "service/shop", direct=True)
    limited.denied("get", "services", "rollback", "service/shop", "--wait")

    limited.bind(BLUEGREEN)
    assert limited.rules() == ROLES[BLUEGREEN]
    history = limited.json("history", "service/shop")
    assert (history["liveColor"], history["targetColor"]) == ("green", "blue")
    proc = limited.ok("rollback", "service/shop", "--wait", "--timeout", "60s")
    assert "routed from green to blue" in proc.stdout, proc.stdout
    assert sc.selectors(ns, "shop") == ("blue", "green")
    assert ns.get("service", "shop")["metadata"]["annotations"]["harness.io/rolled-back-to"] == "blue"
    assert rollback_events(ns, "shop")
    assert limited.used() == ROLES[BLUEGREEN]
    # no workload is read by name, let alone written
    limited.denied("get", "deployments", "rollback", "deployment/shop-green")
    assert not limited.can_i("patch", "deployments") and not limited.can_i("list", "endpoints")


def test_harness_history_role_reads_secrets_only_for_a_secret_history(ns, limited):
    sc.deploy_three_revisions(ns)
    releases = [
        hf.release_entry(3, "Failed", [hf.workload_entry("Deployment", "web", ns.name, "3")]),
        hf.release_entry(2, "Succeeded", [hf.workload_entry("Deployment", "web", ns.name, "2")]),
    ]
    for kind, secret in (("ConfigMap", False), ("Secret", True)):
        data = hf.build_history_data(releases, "gzip" if secret else None, secret)
        name = f"release-{kind.lower()}"
        ns.apply(json.dumps({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, "data": data}))
    limited.denied("get", "configmaps", "history", "--harness-release", "release-configmap", direct=True)
    limited.denied("get", "configmaps", "rollback", "--harness-release", "release-configmap")

    # a history kept in a ConfigMap is read without access to Secrets, with a warning that Harness's Secret history
    # (read first by Harness) could not be checked
    ns.kubectl("create", "role", "configmaps-only", "--verb=get", "--resource=configmaps")
    limited.bind("configmaps-only", expect=grants("configmaps:get"))
    proc = limited.plugin("history", "--harness-release", "release-configmap", "-o", "json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["target"] == 2, proc.stderr
    assert "declarative release Secrets not looked for" in proc.stderr and "Traceback" not in proc.stderr
    limited.denied("get", "secrets", "history", "--harness-release", "release-secret")

    limited.bind(HARNESS)
    assert limited.rules() == ROLES[HARNESS]
    listed = limited.json("history", "--harness-release", "release-secret")
    assert (listed["current"], listed["target"]) == (3, 2)
    assert limited.used() == ROLES[HARNESS]
    # rolling back needs the rollback Role too: without it, the workload's rollback is reported as failed
    proc = limited.plugin("rollback", "--harness-release", "release-configmap")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert 'cannot get resource "deployments"' in proc.stdout, proc.stdout
    assert sc.live_image(ns, "deployment", "web") == "example.test/web:3-broken"

    assert table_roles("rollback --harness-release R") == [HARNESS, HARNESS_BOOK, ROLLBACK]
    limited.bind(ROLLBACK, HARNESS_BOOK)
    assert limited.rules() == ROLES[HARNESS] | ROLES[HARNESS_BOOK] | ROLES[ROLLBACK]
    limited.proxy.reset_log()
    configmap = ns.get("configmap", "release-configmap")["metadata"]["resourceVersion"]
    proc = limited.ok("rollback", "--harness-release", "release-secret")
    assert "1 rolled back" in proc.stdout, proc.stdout
    assert sc.live_image(ns, "deployment", "web") == "example.test/web:2"
    assert ("secrets", "patch") in limited.used() <= ROLES[HARNESS] | ROLES[HARNESS_BOOK] | ROLES[ROLLBACK]
    assert "secret/release-secret: history: release 2 deployment/web revision 2 ->" in proc.stdout, proc.stdout
    assert ns.get("configmap", "release-configmap")["metadata"]["resourceVersion"] == configmap  # not this release


def test_blue_green_harness_history_rolls_back_with_the_roles_the_table_names(ns, limited):
    ns.apply(manifests.colour_service("shop", "shop", "green", "primary"))
    ns.apply(manifests.colour_service("shop-stage", "shop", "blue", "stage"))
    for color, tag in (("blue", "1"), ("green", "2")):
        ns.apply(manifests.colour_deployment("shop", color, f"example.test/shop:{tag}", replicas=1))
        ns.rollout_status(f"deployment/shop-{color}")
    releases = [hf.single_workload_release_entry(2, "Failed", "Deployment", "shop-green", ns.name, "1"),
                hf.single_workload_release_entry(1, "Succeeded", "Deployment", "shop-blue", ns.name, "1")]
    releases[0]["bgEnvironment"], releases[1]["bgEnvironment"] = "stage", "primary"
    ns.apply(json.dumps(hf.history_object("ConfigMap", "rel", releases)))

    roles = table_roles("rollback --harness-release R, a Blue/Green history")
    limited.bind(*roles)
    proc = limited.ok("rollback", "--harness-release", "rel")
    assert "service/shop: rolled back: service/shop routed from green to blue" in proc.stdout, proc.stdout
    assert sc.selectors(ns, "shop") == ("blue", "green")
    assert limited.used() <= frozenset().union(*(ROLES[r] for r in roles))


def test_the_by_name_role_reads_and_books_release_r_and_no_other_secret(ns, limited):
    sc.deploy_three_revisions(ns)
    releases = [hf.release_entry(3, "Failed", [hf.workload_entry("Deployment", "web", ns.name, "3")]),
                hf.release_entry(2, "Succeeded", [hf.workload_entry("Deployment", "web", ns.name, "2")])]
    ns.apply(json.dumps(hf.history_object("Secret", "rel", releases)))
    ns.kubectl("create", "secret", "generic", "app-db", "--from-literal=password=db-s3cret")
    role = RBAC_YAML.read_text().split("\n---\n")
    by_name = next(doc for doc in role if f"name: {HARNESS_BY_NAME}" in doc)
    ns.kubectl("apply", "-f", "-", input=by_name.replace(RELEASE_PLACEHOLDER, "rel"))
    roles = table_roles("history, rollback --harness-release R --trust-legacy-history, legacy history")
    assert roles == [HARNESS_BY_NAME, ROLLBACK]
    limited.bind(*roles)

    def run(*args):
        proc = limited.plugin(*args)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
        # the only warning: the declarative release Secrets could not be listed, which this Role cannot grant
        assert [line for line in proc.stderr.splitlines() if line.startswith("warning:")] == [
            line for line in proc.stderr.splitlines() if "declarative release Secrets not looked for" in line]
        return proc

    assert json.loads(run("history", "--harness-release", "rel", "-o", "json").stdout)["target"] == 2
    refused = limited.plugin("rollback", "--harness-release", "rel")  # newer release Secrets could not be looked for
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert sc.live_image(ns, "deployment", "web") == "example.test/web:3-broken"
    proc = run("rollback", "--harness-release", "rel", "--trust-legacy-history")
    assert "secret/rel: history: release 2 deployment/web revision 2 ->" in proc.stdout, proc.stdout
    assert sc.live_image(ns, "deployment", "web") == "example.test/web:2"
    assert ("secrets", "list") not in limited.used()  # the list was refused, never answered
    for args in (("get", "secret", "app-db", "-o", "yaml"), ("get", "secrets"), ("get", "configmaps")):
        denied = ns.kubectl(*args, env=limited.direct_env, check=False)
        assert denied.returncode != 0 and "Forbidden" in denied.stderr and "db-s3cret" not in denied.stdout, args


def test_the_by_name_role_never_takes_unlisted_release_secrets_for_none(ns, limited):
    """ConfigMap rel-s frozen at [2, 1] after the release went declarative (Secrets 3 Succeeded, 4 InProgress and
    live): a user who may not list Secrets is told the Secrets were not looked for, never that there are none, and
    a rollback is refused in one line naming the missing permission, with nothing changed and no --force advised."""
    for tag in ("1", "2", "3"):
        ns.apply(manifests.deployment("web", f"example.test/web:{tag}"))
        ns.rollout_status("deployment/web")
    ns.apply(manifests.deployment("web", "example.test/web:4-broken"))
    ns.wait_until(lambda: "example.test/web:4-broken" in sc.rs_by_image(ns, "web"), "the ReplicaSet of web:4-broken")
    ns.apply(json.dumps(hf.history_object("ConfigMap", "rel-s", [
        hf.release_entry(n, "Succeeded", [hf.workload_entry("Deployment", "web", ns.name, str(n))]) for n in (2, 1)])))
    for number, state, tag in ((3, "Succeeded", "3"), (4, "InProgress", "4-broken")):
        ns.apply(json.dumps(hf.release_secret("rel-s", number, state,
                                              [json.loads(manifests.deployment("web", f"example.test/web:{tag}"))])))
    role = RBAC_YAML.read_text().split("\n---\n")
    by_name = next(doc for doc in role if f"name: {HARNESS_BY_NAME}" in doc)
    ns.kubectl("apply", "-f", "-", input=by_name.replace(RELEASE_PLACEHOLDER, "rel-s"))
    limited.bind(HARNESS_BY_NAME, ROLLBACK)
    objects = [("deployment", "web"), ("configmap", "rel-s"), ("secret", "harness.release.rel-s.4")]
    before = [ns.get(kind, name)["metadata"]["resourceVersion"] for kind, name in objects]

    shown = limited.plugin("history", "--harness-release", "rel-s", "-o", "json")
    assert shown.returncode in (0, 3), shown.stderr
    reason = json.loads(shown.stdout)["sourceReason"]
    assert "no declarative release Secrets" not in reason and "not looked for" in reason, reason
    for dry in ((), ("--dry-run",)):
        proc = limited.plugin("rollback", "--harness-release", "rel-s", *dry)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "list on secrets" in lines[0] and "--trust-legacy-history" in lines[0], lines
        assert "--force" not in proc.stdout + proc.stderr and "no declarative release Secrets" not in proc.stdout
        assert [ns.get(kind, name)["metadata"]["resourceVersion"] for kind, name in objects] == before
    assert sc.live_image(ns, "deployment", "web") == "example.test/web:4-broken"


def test_mark_bad_needs_the_record_role_and_barrier_the_rollback_role(ns, limited):
    for tag in ("1", "2"):
        sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", f"example.test/web:{tag}"),
                             "Succeeded", *sc.IDENTITY)
    assert table_roles("mark-bad KIND/NAME (--clear)") == [RECORD]
    assert table_roles("barrier KIND/NAME (--clear)") == [ROLLBACK]
    limited.bind(RECORD)
    limited.ok("mark-bad", "deployment/web", "--revision", "1", "--reason", "bad data")
    limited.ok("mark-bad", "deployment/web", "--revision", "1", "--clear")
    # a barrier is kept on the workload too: the record Role may not write it, and nothing is written
    limited.denied("patch", "deployments", "barrier", "deployment/web", "--revision", "2", "--reason", "schema v2")
    assert limited.used() <= ROLES[RECORD]
    assert sc.PREFIX + "barrier" not in revision_annotations(ns, "replicasets", "web")[2]
    limited.bind(ROLLBACK)
    limited.ok("barrier", "deployment/web", "--revision", "2", "--reason", "schema v2")
    limited.ok("barrier", "deployment/web", "--revision", "2", "--clear")
    assert limited.used() <= ROLES[RECORD] | ROLES[ROLLBACK]
