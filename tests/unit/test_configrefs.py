"""The pure parts of config snapshots (kubectl_rollback/configrefs.py): which objects a pod template reads, the
snapshot's hash and name, the map on the revision, repointing, and what a restore would change."""

import json

import pytest

from kubectl_rollback import configrefs
from kubectl_rollback.configrefs import ConfigAction, ConfigRef, Entry
from kubectl_rollback.errors import UsageError
from kubectl_rollback.options import parse_config_mode, parse_snapshot_mode

CM, SECRET = configrefs.CONFIGMAP, configrefs.SECRET
VALUE = "c2VjcmV0LXZhbHVlLU1BUktFUg=="  # base64 of a Secret value: it must never show in text


def template() -> dict:
    return {"spec": {
        "initContainers": [{"name": "init", "envFrom": [{"secretRef": {"name": "init-secret"}}]}],
        "containers": [{
            "name": "app",
            "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "a"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "b", "optional": True}}},
                    {"name": "C", "value": "plain"},
                    {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "envFrom": [{"configMapRef": {"name": "opt", "optional": True}}],
        }],
        "volumes": [{"name": "v1", "configMap": {"name": "cfg"}},
                    {"name": "v2", "secret": {"secretName": "tls"}},
                    {"name": "v3", "projected": {"sources": [{"configMap": {"name": "proj"}},
                                                             {"secret": {"name": "creds"}},
                                                             {"serviceAccountToken": {"path": "t"}}]}},
                    {"name": "v4", "emptyDir": {}}],
    }}


def test_references_every_kind_of_reference_once_and_optional_only_if_every_reference_is():
    assert configrefs.references(template()) == {
        ConfigRef(CM, "cfg"): False, ConfigRef(CM, "opt"): True, ConfigRef(CM, "proj"): False,
        ConfigRef(SECRET, "creds"): False,  # optional in env, required by the projected volume
        ConfigRef(SECRET, "init-secret"): False, ConfigRef(SECRET, "tls"): False,
    }
    assert configrefs.references({}) == {} and configrefs.references(None) == {}


def test_repoint_rewrites_every_reference_to_the_snapshot_and_leaves_the_input_alone():
    original = template()
    names = {ConfigRef(CM, "cfg"): "cfg-snap-1", ConfigRef(SECRET, "creds"): "creds-snap-2",
             ConfigRef(SECRET, "tls"): "tls-snap-3"}
    repointed = configrefs.repoint(original, names)
    assert set(configrefs.references(repointed)) == {
        ConfigRef(CM, "cfg-snap-1"), ConfigRef(CM, "opt"), ConfigRef(CM, "proj"), ConfigRef(SECRET, "creds-snap-2"),
        ConfigRef(SECRET, "init-secret"), ConfigRef(SECRET, "tls-snap-3")}
    assert repointed["spec"]["volumes"][1]["secret"] == {"secretName": "tls-snap-3"}
    assert configrefs.references(original) == configrefs.references(template())  # the input is untouched


def test_hash_follows_the_content_only_and_a_secret_hash_is_salted():
    a = {"metadata": {"name": "x", "resourceVersion": "1"}, "data": {"k": "v"}}
    same = {"metadata": {"name": "x", "resourceVersion": "9", "labels": {"l": "1"}}, "data": {"k": "v"}}
    other = {"metadata": {"name": "x"}, "data": {"k": "w"}}
    assert configrefs.content_hash(CM, a) == configrefs.content_hash(CM, same)
    assert configrefs.content_hash(CM, a) != configrefs.content_hash(CM, other)
    assert len(configrefs.content_hash(CM, a)) == configrefs.HASH_LENGTH
    assert configrefs.content_hash(SECRET, a, "uid-1") != configrefs.content_hash(SECRET, a, "uid-2")
    assert configrefs.content_hash(SECRET, dict(a, type="kubernetes.io/tls")) != configrefs.content_hash(SECRET, a)


def test_snapshot_name_is_the_original_plus_hash_and_always_a_valid_length():
    assert configrefs.snapshot_name("app-config", "0123456789") == "app-config-snap-0123456789"
    long_name = "a" * 240 + "-" + "b" * 12
    name = configrefs.snapshot_name(long_name, "0123456789")
    assert len(name) <= 253 and name.endswith("-snap-0123456789") and "--" not in name


def test_snapshot_object_is_immutable_labelled_owned_and_keeps_only_the_content():
    original = {"metadata": {"name": "creds", "uid": "u", "labels": {"team": "a"}, "resourceVersion": "3"},
                "type": "kubernetes.io/basic-auth", "data": {"password": VALUE}}
    owner = configrefs.owner_reference("ReplicaSet", "web-h1", "rs-uid")
    body = configrefs.snapshot_object(ConfigRef(SECRET, "creds"), original, "creds-snap-1", owner)
    assert body["immutable"] is True and body["kind"] == SECRET and body["type"] == "kubernetes.io/basic-auth"
    assert body["data"] == {"password": VALUE}
    meta = body["metadata"]
    assert meta["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-h1",
                                        "uid": "rs-uid"}]
    assert meta["labels"][configrefs.SNAPSHOT_OF] == "creds" and meta["labels"][configrefs.SNAPSHOT_LABEL] == "true"
    assert meta["annotations"] == {configrefs.SNAPSHOT_OF: "Secret/creds"} and "resourceVersion" not in meta
    too_long = configrefs.snapshot_object(ConfigRef(CM, "c" * 70), {}, "n", owner)
    assert configrefs.SNAPSHOT_OF not in too_long["metadata"]["labels"]  # not a valid label value: annotation only


def test_with_owner_adds_a_revision_once():
    first, second = (configrefs.owner_reference("ReplicaSet", n, n) for n in ("a", "b"))
    snapshot = {"metadata": {"ownerReferences": [first]}}
    assert configrefs.with_owner(snapshot, second) == [first, second]
    assert configrefs.with_owner(snapshot, first) is None


def test_the_map_round_trips_and_says_why_an_entry_has_no_snapshot():
    entries = [Entry(ConfigRef(CM, "cfg"), "cfg-snap-1"), Entry(ConfigRef(CM, "opt"), None, "optional, absent"),
               Entry(ConfigRef(SECRET, "creds"), None, "not snapshotted: Forbidden")]
    annotations = configrefs.snapshot_annotations(entries)
    assert json.loads(annotations[configrefs.SNAPSHOTS]) == {"ConfigMap/cfg": "cfg-snap-1", "ConfigMap/opt": None,
                                                             "Secret/creds": None}
    assert configrefs.parse_snapshots(annotations) == sorted(entries, key=lambda e: e.ref.key)
    assert configrefs.snapshot_annotations(entries[:1])[configrefs.SNAPSHOT_NOTE] is None  # an old note is removed
    for broken in ("{", "[]", '{"Pod/x": "y", "ConfigMap/": "z", "ConfigMap/a": 3}'):
        assert configrefs.parse_snapshots({configrefs.SNAPSHOTS: broken}) == []
    assert configrefs.parse_snapshots(None) == []


def test_data_changes_diff_a_configmap_and_name_only_the_keys_of_a_secret():
    live = {"data": {"greeting": "B", "file": "a=1\nb=2\n"}}
    snapshot = {"data": {"greeting": "A", "file": "a=1\nb=1\n"}}
    diff = configrefs.data_changes(ConfigRef(CM, "cfg"), live, snapshot)
    assert "-  B" in diff and "+  A" in diff and "-  b=2" in diff and "+  b=1" in diff
    secret = configrefs.data_changes(ConfigRef(SECRET, "s"), {"data": {"a": VALUE, "gone": VALUE}},
                                     {"data": {"a": "b3RoZXI=", "new": VALUE}})
    assert secret == ("key a: changed", "key gone: removed", "key new: added")
    assert VALUE not in "".join(secret) and "b3RoZXI=" not in "".join(secret)
    recreated = configrefs.data_changes(ConfigRef(CM, "cfg"), None, snapshot)
    assert recreated[0].startswith("--- /dev/null")


def test_restore_patch_sets_changed_keys_removes_extra_ones_and_is_preconditioned():
    live = {"metadata": {"resourceVersion": "7"}, "data": {"a": "1", "b": "2", "extra": "x"}}
    snapshot = {"data": {"a": "1", "b": "3"}, "binaryData": {"bin": "AAE="}}
    assert configrefs.restore_patch(live, snapshot) == {
        "metadata": {"resourceVersion": "7"}, "data": {"b": "3", "extra": None}, "binaryData": {"bin": "AAE="}}
    assert configrefs.restore_action(ConfigRef(CM, "c"), live, snapshot) is ConfigAction.UPDATE
    assert configrefs.restore_action(ConfigRef(CM, "c"), None, snapshot) is ConfigAction.RECREATE
    unchanged = dict(snapshot, metadata={})
    assert configrefs.restore_action(ConfigRef(CM, "c"), unchanged, snapshot) is ConfigAction.UNCHANGED
    assert configrefs.recreated_object(ConfigRef(CM, "c"), dict(snapshot, immutable=True)) == {
        "apiVersion": "v1", "kind": CM, "metadata": {"name": "c"}, **snapshot}


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def applied_object(data: dict, rv: str = "7") -> dict:
    manifest = {"apiVersion": "v1", "kind": CM, "metadata": {"name": "c", "labels": {"app": "web"}}, "data": data}
    return {"metadata": {"resourceVersion": rv, "annotations": {LAST_APPLIED: json.dumps(manifest)}}, "data": data}


def test_a_snapshot_keeps_the_content_its_original_was_applied_with():
    owner = configrefs.owner_reference("ReplicaSet", "web-1", "u1")
    good = configrefs.snapshot_object(ConfigRef(CM, "c"), applied_object({"k": "v1", "keep": "yes"}), "c-snap", owner)
    assert json.loads(good["metadata"]["annotations"][configrefs.APPLIED_CONFIG]) == {"data": {"k": "v1",
                                                                                               "keep": "yes"}}
    never_applied = configrefs.snapshot_object(ConfigRef(CM, "c"), {"data": {"k": "v1"}}, "c-snap", owner)
    assert configrefs.APPLIED_CONFIG not in never_applied["metadata"]["annotations"]


def test_restore_gives_the_live_object_the_good_release_s_last_applied_content_and_keeps_its_metadata():
    owner = configrefs.owner_reference("ReplicaSet", "web-1", "u1")
    snapshot = configrefs.snapshot_object(ConfigRef(CM, "c"), applied_object({"k": "v1", "keep": "yes"}), "s", owner)
    live = applied_object({"k": "v2"}, rv="9")
    patch = configrefs.restore_patch(live, snapshot)
    restored = json.loads(patch["metadata"]["annotations"][LAST_APPLIED])
    assert restored["data"] == {"k": "v1", "keep": "yes"} and restored["metadata"]["labels"] == {"app": "web"}
    assert patch["data"] == {"k": "v1", "keep": "yes"} and patch["metadata"]["resourceVersion"] == "9"
    # a snapshot taken before the applied content was kept: its own content stands for it
    older = {k: v for k, v in snapshot.items() if k != "metadata"}
    older["metadata"] = {"annotations": {configrefs.SNAPSHOT_OF: "ConfigMap/c"}}
    assert json.loads(configrefs.restored_last_applied(live, older))["data"] == {"k": "v1", "keep": "yes"}
    # never applied client-side: no last-applied configuration is added
    assert configrefs.restored_last_applied({"metadata": {}, "data": {"k": "v2"}}, snapshot) is None


def test_users_are_the_other_workloads_that_read_an_object():
    others = {"deployment/b": template(), "deployment/a": {"spec": {"volumes": [{"configMap": {"name": "cfg"}}]}}}
    assert configrefs.users(others, [ConfigRef(CM, "cfg"), ConfigRef(CM, "nobody")]) == {
        ConfigRef(CM, "cfg"): ["deployment/a", "deployment/b"]}


def test_data_bytes_counts_decoded_base64_and_plain_text():
    assert configrefs.data_bytes(CM, {"data": {"k": "é"}, "binaryData": {"b": "AAEC"}}) == 1 + 2 + 1 + 3
    assert configrefs.data_bytes(SECRET, {"data": {"k": "AAEC"}}) == 1 + 3


def test_the_flags_parse_to_their_modes_and_refuse_anything_else():
    assert parse_config_mode(None) is configrefs.ConfigMode.AUTO
    assert [parse_config_mode(v) for v in ("restore", "Repoint", "none")] == [
        configrefs.ConfigMode.RESTORE, configrefs.ConfigMode.REPOINT, configrefs.ConfigMode.NONE]
    assert [parse_snapshot_mode(v) for v in ("all", "configmaps", "NONE")] == list(configrefs.SnapshotMode)
    for bad in ("auto", "", "x"):
        with pytest.raises(UsageError, match="--config "):
            parse_config_mode(bad)
    with pytest.raises(UsageError, match="--config-snapshot"):
        parse_snapshot_mode("secrets")


def test_a_recreated_object_is_applied_as_its_manifest_applied_it():
    """Issue 27 item 8: an object the rollback re-creates gets the last-applied configuration its manifest gave it
    (client-side apply) and is applied as the manager that applied it (server-side), as an updated one is."""
    manifest = {"apiVersion": "v1", "kind": CM, "metadata": {"name": "c"}, "data": {"k": "v1", "keep": "yes"}}
    original = {"metadata": {"name": "c", "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                                                           json.dumps(manifest)},
                             "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                                                "fieldsV1": {"f:data": {"f:k": {}, "f:keep": {}}}}]},
                "data": {"k": "v1", "keep": "yes"}}
    snapshot = configrefs.snapshot_object(ConfigRef(CM, "c"), original, "c-snap-1", {"uid": "u"})
    assert configrefs.recreating_manager(snapshot) == "kubectl"
    recreated = configrefs.recreated_object(ConfigRef(CM, "c"), snapshot)
    last = json.loads(recreated["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last == {"apiVersion": "v1", "kind": CM, "metadata": {"annotations": {}, "name": "c"},
                    "data": {"k": "v1", "keep": "yes"}}
    never_applied = configrefs.snapshot_object(ConfigRef(CM, "c"), {"metadata": {"name": "c"}, "data": {"k": "v"}},
                                               "c-snap-2", {"uid": "u"})
    assert configrefs.recreating_manager(never_applied) is None
    assert "annotations" not in configrefs.recreated_object(ConfigRef(CM, "c"), never_applied)["metadata"]


def test_a_recreated_secret_carries_the_last_applied_kubectl_wrote_byte_for_byte():
    """The tester's finding 4: namespace and type included, in kubectl's encoding, so the next apply is unchanged."""
    written = ('{"apiVersion":"v1","data":{"k":"djE="},"kind":"Secret","metadata":{"annotations":{},"name":"s",'
               '"namespace":"shop"},"type":"Opaque"}\n')
    original = {"metadata": {"name": "s", "namespace": "shop", "annotations": {LAST_APPLIED: written}},
                "type": "Opaque", "data": {"k": "djE="}}
    snapshot = configrefs.snapshot_object(ConfigRef("Secret", "s"), original, "s-snap-1", {"uid": "u"})
    snapshot["metadata"]["namespace"] = "shop"  # the server's, on the snapshot it created
    recreated = configrefs.recreated_object(ConfigRef("Secret", "s"), snapshot)
    assert recreated["metadata"]["annotations"][LAST_APPLIED] == written
