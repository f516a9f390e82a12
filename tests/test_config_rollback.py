"""Config snapshots on the real cluster (issue 14): `record` snapshots the ConfigMaps and Secrets a revision reads,
`rollback` puts them back (restore), points the template at them (repoint) or leaves them (none), kube-controller-
manager's garbage collector deletes them with the last revision that owns them, and no Secret value is ever printed.
"""

import base64
import json
from pathlib import Path

import pytest

from tests import manifests
from tests.scenarios import IDENTITY, wait_past_creation_second

# Secret values: neither they nor their base64 may appear in any output of the plugin, in any test.
MARKERS = ("s3cr3t-MARKER-one-7f3a", "s3cr3t-MARKER-two-9b1c")
FORBIDDEN_TEXT = MARKERS + tuple(base64.b64encode(m.encode()).decode() for m in MARKERS)
SNAPSHOTS = "harness.io/config-snapshots"
RBAC_YAML = Path(__file__).resolve().parents[1] / "docs" / "rbac.yaml"


def plugin(ns, *args: str, code: int = 0, env: dict = None):
    """The plugin as a user runs it; its exit code checked, and no Secret value in anything it printed."""
    proc = ns.plugin(*args, env=env) if env else ns.plugin(*args)
    for text in FORBIDDEN_TEXT:
        assert text not in proc.stdout and text not in proc.stderr, f"a Secret value in the output of {args}"
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, f"{' '.join(args)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def config(ns, greeting: str, password: str, name: str = "app-config", secret: str = "app-secret") -> None:
    ns.apply(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                         "data": {"greeting": greeting, "app.properties": f"mode=prod\ngreeting={greeting}\n"}}))
    ns.apply(json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret}, "type": "Opaque",
                         "stringData": {"password": password}}))


def app(name: str, image: str, history_limit: int = 10, config_map: str = "app-config",
        secret: str = "app-secret") -> str:
    """A Deployment that reads the ConfigMap through env, envFrom and a volume, the Secret through env and a
    projected volume, and an optional ConfigMap that does not exist."""
    obj = json.loads(manifests.deployment(name, image, history_limit=history_limit, progress_deadline=20))
    pod = obj["spec"]["template"]["spec"]
    pod["containers"][0]["env"] = [
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": config_map, "key": "greeting"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}},
    ]
    pod["containers"][0]["envFrom"] = [{"configMapRef": {"name": "app-optional", "optional": True}}]
    pod["volumes"] = [
        {"name": "files", "configMap": {"name": config_map}},
        {"name": "creds", "projected": {"sources": [{"secret": {"name": secret}}]}},
    ]
    return json.dumps(obj)


def deploy(ns, name: str, image: str, status: str, **kw) -> None:
    ns.apply(app(name, image, **kw))
    if "broken" not in image:
        ns.rollout_status(f"deployment/{name}")
    plugin(ns, "record", f"deployment/{name}", "--status", status, *IDENTITY)


def read_config(ns, template: dict) -> dict:
    """What the pods of `template` read, following its references: ConfigMap name -> data, Secret name -> values."""
    pod = template["spec"]
    names = {("configmap", e["valueFrom"]["configMapKeyRef"]["name"]) for e in pod["containers"][0]["env"]
             if "configMapKeyRef" in e["valueFrom"]}
    names |= {("secret", e["valueFrom"]["secretKeyRef"]["name"]) for e in pod["containers"][0]["env"]
              if "secretKeyRef" in e["valueFrom"]}
    names |= {("configmap", v["configMap"]["name"]) for v in pod["volumes"] if "configMap" in v}
    names |= {("secret", s["secret"]["name"]) for v in pod["volumes"] if "projected" in v
              for s in v["projected"]["sources"]}
    read = {}
    for kind, name in sorted(names):
        obj = ns.get(kind, name)
        data = obj.get("data") or {}
        read[name] = data["greeting"] if kind == "configmap" else base64.b64decode(data["password"]).decode()
    return read


def template(ns, name: str = "web") -> dict:
    return ns.get("deployment", name)["spec"]["template"]


def snapshots(ns, kind: str) -> dict:
    return {o["metadata"]["name"]: o for o in ns.items(kind, "-l", "harness.io/config-snapshot=true")}


def rs_of(ns, image: str) -> dict:
    return next(rs for rs in ns.items("replicasets", "-l", "app=web")
                if rs["spec"]["template"]["spec"]["containers"][0]["image"] == image)


def two_releases(ns) -> None:
    """Release 1 reads A and S1 (recorded Succeeded); release 2 changes both and the image, and fails."""
    config(ns, "A", MARKERS[0])
    deploy(ns, "web", "example.test/web:1", "Succeeded")
    config(ns, "B", MARKERS[1])
    deploy(ns, "web", "example.test/web:2-broken", "InProgress")


def test_record_snapshots_each_referenced_object_immutable_and_owned_by_the_revision(ns):
    two_releases(ns)
    rs1, rs2 = rs_of(ns, "example.test/web:1"), rs_of(ns, "example.test/web:2-broken")
    mapping = json.loads(rs1["metadata"]["annotations"][SNAPSHOTS])
    assert set(mapping) == {"ConfigMap/app-config", "ConfigMap/app-optional", "Secret/app-secret"}
    assert mapping["ConfigMap/app-optional"] is None  # optional and absent: noted, no error
    assert "optional, absent" in rs1["metadata"]["annotations"]["harness.io/config-snapshot-note"]
    for kind, key in (("configmaps", "ConfigMap/app-config"), ("secrets", "Secret/app-secret")):
        snap = snapshots(ns, kind)[mapping[key]]
        assert snap["immutable"] is True and snap["metadata"]["annotations"]["harness.io/snapshot-of"] == key
        assert [(o["kind"], o["uid"]) for o in snap["metadata"]["ownerReferences"]] == [
            ("ReplicaSet", rs1["metadata"]["uid"])]
    assert snapshots(ns, "secrets")[mapping["Secret/app-secret"]]["type"] == "Opaque"
    second = json.loads(rs2["metadata"]["annotations"][SNAPSHOTS])
    assert second["ConfigMap/app-config"] != mapping["ConfigMap/app-config"]  # B is another snapshot than A
    history = json.loads(plugin(ns, "history", "deployment/web", *IDENTITY, "-o", "json").stdout)
    states = {r["revision"]: {s["object"]: s["exists"] for s in r["configSnapshots"]} for r in history["revisions"]}
    assert states[1] == {"ConfigMap/app-config": True, "ConfigMap/app-optional": None, "Secret/app-secret": True}
    wide = plugin(ns, "history", "deployment/web", *IDENTITY, "-o", "wide").stdout
    assert "CONFIG" in wide and f"ConfigMap/app-config={mapping['ConfigMap/app-config']}" in wide


def test_rollback_restores_the_config_the_restored_pods_read(ns):
    two_releases(ns)
    dry = plugin(ns, "rollback", "deployment/web", *IDENTITY, "--dry-run").stdout
    assert "-  B" in dry and "+  A" in dry and "key password: changed" in dry  # a diff; for the Secret, a key name
    assert read_config(ns, template(ns)) == {"app-config": "B", "app-secret": MARKERS[1]}  # the dry run changed nothing
    out = plugin(ns, "rollback", "deployment/web", *IDENTITY, "--wait").stdout
    assert "config: ConfigMap/app-config: restored from" in out and "config: Secret/app-secret: restored" in out
    restored = template(ns)
    assert restored["spec"]["containers"][0]["image"] == "example.test/web:1"
    assert read_config(ns, restored) == {"app-config": "A", "app-secret": MARKERS[0]}


def apply_config(ns, data: dict, server_side: bool) -> None:
    """`kubectl apply` (client- or server-side) of ConfigMap app-configmap and Secret app-secret holding `data`."""
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    for obj in ({"kind": "ConfigMap", "data": data}, {"kind": "Secret", "type": "Opaque", "data": encoded}):
        manifest = dict(obj, apiVersion="v1", metadata={"name": f"app-{obj['kind'].lower()}"})
        ns.kubectl(*(["apply", "--server-side"] if server_side else ["apply"]), "-f", "-",
                   input=json.dumps(manifest))


def live_config(ns) -> tuple:
    """The data of app-configmap and app-secret (decoded)."""
    secret = ns.get("secret", "app-secret").get("data") or {}
    return (ns.get("configmap", "app-configmap").get("data"),
            {k: base64.b64decode(v).decode() for k, v in secret.items()})


@pytest.mark.parametrize("server_side", [False, True], ids=["client-side", "server-side"])
@pytest.mark.parametrize("deleted", [False, True], ids=["updated", "re-created"])
def test_the_next_apply_of_restored_config_gives_exactly_its_manifest(ns, server_side, deleted):
    """Release 1 applies k and keep, release 2 drops keep and fails; after the rollback restores keep, release 3's
    apply (without keep) must remove it again, as it would have without the rollback: the restored objects carry
    the good release's last-applied configuration, and its server-side field owner owns the restored keys. The
    same when the objects had been deleted and the rollback re-creates them (issue 27 item 8)."""
    apply_config(ns, {"k": "v1", "keep": "yes"}, server_side)
    deploy(ns, "web", "example.test/web:1", "Succeeded", config_map="app-configmap")
    apply_config(ns, {"k": "v2"}, server_side)
    deploy(ns, "web", "example.test/web:2", "Failed", config_map="app-configmap")
    if deleted:
        ns.kubectl("delete", "configmap/app-configmap", "secret/app-secret")
    out = plugin(ns, "rollback", "deployment/web", *IDENTITY).stdout
    assert ("re-created from" in out) is deleted, out
    assert live_config(ns) == ({"k": "v1", "keep": "yes"},) * 2
    apply_config(ns, {"k": "v3"}, server_side)  # exit 0 (checked); server-side: no conflict with the restore
    assert live_config(ns) == ({"k": "v3"},) * 2


def test_config_re_created_by_a_rollback_carries_what_kubectl_apply_wrote_byte_for_byte(ns):
    """The last-applied configuration of a ConfigMap and a Secret a rollback re-creates is the one kubectl apply
    wrote for release 1, namespace included: applying release 1's manifest again is "unchanged"."""
    last_applied = "kubectl.kubernetes.io/last-applied-configuration"
    apply_config(ns, {"k": "v1"}, server_side=False)
    written = {kind: ns.get(kind, f"app-{kind}")["metadata"]["annotations"][last_applied]
               for kind in ("configmap", "secret")}
    deploy(ns, "web", "example.test/web:1", "Succeeded", config_map="app-configmap")
    apply_config(ns, {"k": "v2"}, server_side=False)
    deploy(ns, "web", "example.test/web:2", "Failed", config_map="app-configmap")
    ns.kubectl("delete", "configmap/app-configmap", "secret/app-secret")
    assert "re-created from" in plugin(ns, "rollback", "deployment/web", *IDENTITY).stdout
    for kind in ("configmap", "secret"):
        assert ns.get(kind, f"app-{kind}")["metadata"]["annotations"][last_applied] == written[kind]
    versions = {kind: ns.get(kind, f"app-{kind}")["metadata"]["resourceVersion"] for kind in ("configmap", "secret")}
    apply_config(ns, {"k": "v1"}, server_side=False)
    assert {kind: ns.get(kind, f"app-{kind}")["metadata"]["resourceVersion"]
            for kind in ("configmap", "secret")} == versions


def test_history_shows_no_snapshots_on_a_copied_record(ns):
    """A copy of a record (here revision 1's keys copied onto revision 2, as kubectl rollout undo and the controller
    copy them) is Unknown and contributes nothing: not its snapshot map either (the tester's finding 7)."""
    config(ns, "A", MARKERS[0])
    deploy(ns, "web", "example.test/web:1", "Succeeded")
    first = rs_of(ns, "example.test/web:1")["metadata"]["annotations"]
    ns.apply(app("web", "example.test/web:2"))
    ns.rollout_status("deployment/web")
    copied = [f"{k}={v}" for k, v in first.items() if k.startswith("harness.io/")]
    ns.kubectl("annotate", "--overwrite", f"rs/{rs_of(ns, 'example.test/web:2')['metadata']['name']}", *copied)
    history = json.loads(plugin(ns, "history", "deployment/web", *IDENTITY, "-o", "json").stdout)
    copy = next(r for r in history["revisions"] if r["revision"] == 2)
    assert (copy["status"], copy["configSnapshots"]) == ("Unknown", []), copy
    wide = plugin(ns, "history", "deployment/web", *IDENTITY, "-o", "wide").stdout
    row = next(line for line in wide.splitlines() if line.startswith("2 "))
    assert "snap" not in row, wide


def test_rollback_repoint_leaves_the_live_objects_and_reads_the_snapshots(ns):
    two_releases(ns)
    mapping = json.loads(rs_of(ns, "example.test/web:1")["metadata"]["annotations"][SNAPSHOTS])
    plugin(ns, "rollback", "deployment/web", *IDENTITY, "--config=repoint", "--wait")
    restored = template(ns)
    assert restored["spec"]["containers"][0]["image"] == "example.test/web:1"
    refs = read_config(ns, restored)
    assert refs == {mapping["ConfigMap/app-config"]: "A", mapping["Secret/app-secret"]: MARKERS[0]}
    assert ns.get("configmap", "app-config")["data"]["greeting"] == "B"
    assert base64.b64decode(ns.get("secret", "app-secret")["data"]["password"]).decode() == MARKERS[1]


def test_default_leaves_an_object_other_workloads_read_and_names_it(ns):
    config(ns, "A", MARKERS[0])
    ns.apply(app("other", "example.test/other:1"))
    two_releases(ns)
    proc = plugin(ns, "rollback", "deployment/web", *IDENTITY)
    warning = [line for line in proc.stderr.splitlines() if "ConfigMap/app-config" in line]
    assert len(warning) == 1 and "deployment/other" in warning[0] and "--config=restore" in warning[0]
    assert ns.get("configmap", "app-config")["data"]["greeting"] == "B"  # shared: left as it is
    forced = plugin(ns, "rollback", "deployment/web", *IDENTITY, "--config=restore").stdout
    assert "ConfigMap/app-config: restored" in forced
    assert read_config(ns, template(ns)) == {"app-config": "A", "app-secret": MARKERS[0]}


def test_config_only_change_is_restored_and_the_pods_restart(ns):
    config(ns, "A", MARKERS[0])
    deploy(ns, "web", "example.test/web:1", "Succeeded")
    before = {p["metadata"]["name"] for p in ns.items("pods", "-l", "app=web")}
    config(ns, "B", MARKERS[1])  # the template does not change
    out = plugin(ns, "rollback", "deployment/web", *IDENTITY, "--wait").stdout
    assert "its config was restored" in out and "pods restarted" in out
    assert read_config(ns, template(ns)) == {"app-config": "A", "app-secret": MARKERS[0]}
    assert "kubectl.kubernetes.io/restartedAt" in template(ns)["metadata"]["annotations"]
    ns.wait_until(lambda: (lambda pods: pods and not (pods & before))(
        {p["metadata"]["name"] for p in ns.items("pods", "-l", "app=web")
         if not p["metadata"].get("deletionTimestamp")}), "only new pods")


def test_history_tells_that_a_rollback_would_restore_config_changed_by_hand(ns):
    """The tester's finding 3: the live revision is the last good one, but its ConfigMap was changed by hand since
    its record: history says what `rollback --dry-run` says (its config would be restored), not "no rollback"."""
    config(ns, "A", MARKERS[0])
    deploy(ns, "web", "example.test/web:1", "Succeeded")
    config(ns, "B", MARKERS[0])  # by hand, the template unchanged
    dry = plugin(ns, "rollback", "deployment/web", *IDENTITY, "--dry-run").stdout
    assert "its config would be restored" in dry, dry
    text = plugin(ns, "history", "deployment/web", *IDENTITY).stdout
    assert "no rollback needed" not in text, text
    assert "its config differs from the revision's snapshots (ConfigMap/app-config)" in text, text
    data = json.loads(plugin(ns, "history", "deployment/web", *IDENTITY, "-o", "json").stdout)
    assert (data["rollbackTarget"], data["configToRestore"]) == (1, ["ConfigMap/app-config"]), data


def test_pruned_revisions_take_their_snapshots_and_shared_ones_stay(ns):
    config(ns, "A", MARKERS[0])
    # Each revision is created in a later second than the one before, so that 1 is pruned first, then 2.
    deploy(ns, "web", "example.test/web:1", "Succeeded", history_limit=1)
    wait_past_creation_second(ns, rs_of(ns, "example.test/web:1"), "revision 1")
    deploy(ns, "web", "example.test/web:2", "Succeeded", history_limit=1)  # same config: same snapshot, 2 owners
    rs1, rs2 = rs_of(ns, "example.test/web:1"), rs_of(ns, "example.test/web:2")
    wait_past_creation_second(ns, rs2, "revision 2")
    snap_a = json.loads(rs1["metadata"]["annotations"][SNAPSHOTS])["ConfigMap/app-config"]
    assert json.loads(rs2["metadata"]["annotations"][SNAPSHOTS])["ConfigMap/app-config"] == snap_a
    owners = [o["uid"] for o in ns.get("configmap", snap_a)["metadata"]["ownerReferences"]]
    assert owners == [rs1["metadata"]["uid"], rs2["metadata"]["uid"]]
    config(ns, "B", MARKERS[1])
    deploy(ns, "web", "example.test/web:3", "Succeeded", history_limit=1)  # revision 1 is pruned

    def kept() -> set:
        return {rs["metadata"]["uid"] for rs in ns.items("replicasets", "-l", "app=web")}

    ns.wait_until(lambda: rs1["metadata"]["uid"] not in kept(), "revision 1 to be pruned")
    assert rs2["metadata"]["uid"] in kept(), "revision 2 was pruned before revision 1"
    # The garbage collector has processed the snapshot once the pruned owner's reference is gone from it; it stays,
    # owned by the kept revision 2.
    ns.wait_until(lambda: [o["uid"] for o in ns.get("configmap", snap_a)["metadata"]["ownerReferences"]]
                  == [rs2["metadata"]["uid"]], "the pruned revision's reference removed from the shared snapshot")
    deploy(ns, "web", "example.test/web:4", "Succeeded", history_limit=1)  # revision 2 is pruned: A has no owner
    ns.wait_until(lambda: ns.kubectl("get", "configmap", snap_a, check=False).returncode != 0
                  and snap_a not in snapshots(ns, "configmaps"), f"the garbage collector to delete {snap_a}")
    rs3 = rs_of(ns, "example.test/web:3")
    snap_b = json.loads(rs3["metadata"]["annotations"][SNAPSHOTS])["ConfigMap/app-config"]
    assert snap_b in snapshots(ns, "configmaps")


def test_a_snapshot_deleted_by_hand_fails_the_rollback_in_one_line_and_changes_nothing(ns):
    two_releases(ns)
    snap = json.loads(rs_of(ns, "example.test/web:1")["metadata"]["annotations"][SNAPSHOTS])["ConfigMap/app-config"]
    ns.kubectl("delete", "configmap", snap)
    before = template(ns)
    proc = plugin(ns, "rollback", "deployment/web", *IDENTITY, code=1)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and snap in lines[0] and "--config=none" in lines[0], proc.stderr
    assert template(ns) == before
    assert read_config(ns, before) == {"app-config": "B", "app-secret": MARKERS[1]}
    history = json.loads(plugin(ns, "history", "deployment/web", *IDENTITY, "-o", "json").stdout)
    first = next(r for r in history["revisions"] if r["revision"] == 1)
    assert {s["object"]: s["exists"] for s in first["configSnapshots"]}["ConfigMap/app-config"] is False
    plugin(ns, "rollback", "deployment/web", *IDENTITY, "--config=none", "--wait")  # the workload alone
    assert read_config(ns, template(ns)) == {"app-config": "B", "app-secret": MARKERS[1]}


def test_record_denied_a_snapshot_warns_and_records_without_it(ns, cluster):
    """The `limited` user with the record Role only (no ConfigMap or Secret access): one warning per object, the
    outcome recorded, and the revision says it has no snapshot."""
    ns.kubectl("apply", "-f", str(RBAC_YAML))
    ns.kubectl("create", "rolebinding", "rec", "--role=harness-rollback-record", "--user=limited")
    env = dict(cluster.env, KUBECONFIG=cluster.plane.limited_kubeconfig)
    ns.wait_until(lambda: ns.kubectl("auth", "can-i", "patch", "replicasets", env=env, check=False).returncode == 0,
                  "the RoleBinding")
    config(ns, "A", MARKERS[0])
    ns.apply(app("web", "example.test/web:1"))
    ns.rollout_status("deployment/web")
    proc = plugin(ns, "record", "deployment/web", "--status", "Succeeded", *IDENTITY, env=env)
    warnings = proc.stderr.strip().splitlines()
    assert len(warnings) == 3 and all(w.startswith("warning: no config snapshot of ") for w in warnings), warnings
    assert all("Forbidden" in w for w in warnings)
    annotations = rs_of(ns, "example.test/web:1")["metadata"]["annotations"]
    assert annotations["harness.io/status"] == "Succeeded"
    assert json.loads(annotations[SNAPSHOTS]) == {"ConfigMap/app-config": None, "ConfigMap/app-optional": None,
                                                  "Secret/app-secret": None}
    assert "not snapshotted: Forbidden" in annotations["harness.io/config-snapshot-note"]
    assert snapshots(ns, "configmaps") == {} and snapshots(ns, "secrets") == {}


def test_the_config_roles_are_enough_to_snapshot_and_restore(ns, cluster):
    """The `limited` user with docs/rbac.yaml's record or rollback Role plus harness-rollback-config and
    harness-rollback-config-secrets: snapshots taken (a second owner added), then restored, without a warning."""
    ns.kubectl("apply", "-f", str(RBAC_YAML))
    for role in ("harness-rollback-record", "harness-rollback-rollback", "harness-rollback-config",
                 "harness-rollback-config-secrets"):
        ns.kubectl("create", "rolebinding", role, f"--role={role}", "--user=limited")
    env = dict(cluster.env, KUBECONFIG=cluster.plane.limited_kubeconfig)
    ns.wait_until(lambda: ns.kubectl("auth", "can-i", "create", "secrets", env=env, check=False).returncode == 0,
                  "the RoleBindings")
    config(ns, "A", MARKERS[0])
    for image, status in (("example.test/web:1", "Succeeded"), ("example.test/web:2", "Succeeded")):
        ns.apply(app("web", image))
        ns.rollout_status("deployment/web")
        assert plugin(ns, "record", "deployment/web", "--status", status, *IDENTITY, env=env).stderr == ""
    mapping = json.loads(rs_of(ns, "example.test/web:2")["metadata"]["annotations"][SNAPSHOTS])
    assert len(ns.get("secret", mapping["Secret/app-secret"])["metadata"]["ownerReferences"]) == 2
    config(ns, "B", MARKERS[1])
    ns.apply(app("web", "example.test/web:3-broken"))
    plugin(ns, "record", "deployment/web", "--status", "Failed", *IDENTITY, env=env)
    proc = plugin(ns, "rollback", "deployment/web", *IDENTITY, env=env)
    assert "warning" not in proc.stderr, proc.stderr
    assert read_config(ns, template(ns)) == {"app-config": "A", "app-secret": MARKERS[0]}


@pytest.mark.parametrize("mode", ["client", "server"])
def test_a_dry_run_says_what_it_would_restore_never_restored(ns, mode):
    """Issue 26: a dry run printed "restored" for config it had not touched. The template change and the config-only
    change, both dry-run modes: every line says "would", the JSON says it is a dry run, and nothing changed."""
    two_releases(ns)
    proc = plugin(ns, "rollback", "deployment/web", *IDENTITY, f"--dry-run={mode}")
    printed = proc.stdout + proc.stderr
    assert "config: ConfigMap/app-config: would be restored from" in proc.stdout, printed
    assert "config: Secret/app-secret: would be restored from" in proc.stdout, printed
    assert "restored from" not in printed.replace("would be restored from", ""), printed
    as_json = json.loads(plugin(ns, "rollback", "deployment/web", *IDENTITY, f"--dry-run={mode}", "-o", "json").stdout)
    assert as_json["dryRun"] == mode and as_json["changed"] is False
    assert {c["object"]: c["action"] for c in as_json["config"]}["ConfigMap/app-config"] == "update"
    assert read_config(ns, template(ns)) == {"app-config": "B", "app-secret": MARKERS[1]}  # nothing changed
    plugin(ns, "rollback", "deployment/web", *IDENTITY)  # now the template is the good one's; the config again B:
    config(ns, "B", MARKERS[1])
    config_only = plugin(ns, "rollback", "deployment/web", *IDENTITY, f"--dry-run={mode}")
    printed = config_only.stdout + config_only.stderr
    assert "its config would be restored from the revision's snapshots and its pods restarted" in printed, printed
    assert "config: ConfigMap/app-config: would be restored from" in config_only.stdout, printed
    assert "was restored" not in printed and "restored from" not in printed.replace("would be restored from", "")
    assert read_config(ns, template(ns)) == {"app-config": "B", "app-secret": MARKERS[1]}
