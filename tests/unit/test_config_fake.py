"""Config snapshots through the fake API (tests/fakekube.py): the record side's owners, denials and size limit, and
the rollback side's restore, preflight, dry run and repoint, without a controller (the cluster suite has those)."""

import base64

import pytest

from kubectl_rollback import configrefs, gitops, render
from kubectl_rollback.commands import configsnap
from kubectl_rollback.configrefs import ConfigAction, ConfigMode, ConfigRef, SnapshotMode
from kubectl_rollback.errors import ForbiddenError, RollbackError
from kubectl_rollback.kube import CONFIGMAPS, DEPLOYMENTS, PODS, REPLICASETS, SECRETS
from kubectl_rollback.options import GitOpsMode
from kubectl_rollback.workloads.deployment import DeploymentKind
from tests.fakekube import add_deployment, recorded, track_by_argo_cd
from tests.unit.entry_points import FLAGS, rollback_workload

KIND = DeploymentKind()
VALUES = ("s3cr3t-MARKER-one", "s3cr3t-MARKER-two")
ENCODED = tuple(base64.b64encode(v.encode()).decode() for v in VALUES)
READS = {"env": [{"name": "G", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
                 {"name": "P", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}]}


def put_config(fake, greeting: str, password: str) -> None:
    for resource, body in ((CONFIGMAPS, {"metadata": {"name": "cfg"}, "data": {"greeting": greeting}}),
                           (SECRETS, {"metadata": {"name": "creds"}, "type": "Opaque",
                                      "data": {"password": password}})):
        if fake.stored(resource, body["metadata"]["name"]) is None:
            fake.server.create(resource, "ns", body)
        else:
            fake.server.patch(resource, "ns", body["metadata"]["name"], {"data": body["data"]})


def web(fake, images=("img:1", "img:2")):
    """deployment/web, every revision reading cfg and creds; revision 1 Succeeded, the last InProgress (live)."""
    add_deployment(fake, "web", list(images), annotations=[recorded("Succeeded")] + [recorded("InProgress")] * (
        len(images) - 1))
    for resource, name in [(DEPLOYMENTS, "web")] + [(REPLICASETS, f"web-h{n}") for n in range(1, len(images) + 1)]:
        fake.server.objects[(resource.qualified, "ns", name)]["spec"]["template"]["spec"]["containers"][0].update(READS)


def revision(fake, number: int):
    workload = fake.stored(DEPLOYMENTS, "web")
    return next(r for r in KIND.revisions(fake, workload) if r.number == number)


def released(fake):
    """Release 1 read A and VALUES[0] (snapshotted), release 2 reads B and VALUES[1] (snapshotted)."""
    web(fake)
    put_config(fake, "A", ENCODED[0])
    configsnap.take(fake, KIND, revision(fake, 1), SnapshotMode.ALL)
    put_config(fake, "B", ENCODED[1])
    configsnap.take(fake, KIND, revision(fake, 2), SnapshotMode.ALL)
    return fake


def no_values(*texts: str) -> None:
    for text in texts:
        for secret in VALUES + ENCODED:
            assert secret not in text


def test_identical_content_is_one_snapshot_with_one_owner_per_revision(fake):
    web(fake)
    put_config(fake, "A", ENCODED[0])
    first = configsnap.take(fake, KIND, revision(fake, 1), SnapshotMode.ALL)
    second = configsnap.take(fake, KIND, revision(fake, 2), SnapshotMode.ALL)
    assert [e.snapshot for e in first] == [e.snapshot for e in second] and all(e.snapshot for e in first)
    for entry in first:
        resource = configsnap.resource_of(entry.ref)
        owners = fake.stored(resource, entry.snapshot)["metadata"]["ownerReferences"]
        assert [o["name"] for o in owners] == ["web-h1", "web-h2"]
    configsnap.take(fake, KIND, revision(fake, 2), SnapshotMode.ALL)  # again: nothing to add
    assert len(fake.stored(CONFIGMAPS, first[0].snapshot)["metadata"]["ownerReferences"]) == 2


def test_configmaps_mode_leaves_secrets_and_none_mode_writes_nothing(fake):
    web(fake)
    put_config(fake, "A", ENCODED[0])
    entries = configsnap.take(fake, KIND, revision(fake, 1), SnapshotMode.CONFIGMAPS)
    assert [(e.ref.kind, bool(e.snapshot)) for e in entries] == [("ConfigMap", True), ("Secret", False)]
    assert not [c for c in fake.calls if c.resource == SECRETS]  # not even read
    second = revision(fake, 2)
    calls = len(fake.calls)
    assert configsnap.take(fake, KIND, second, SnapshotMode.NONE) == [] and len(fake.calls) == calls


def test_a_denied_snapshot_is_one_warning_and_the_map_says_there_is_none(fake, capsys):
    web(fake)
    put_config(fake, "A", ENCODED[0])
    fake.fail("create", status=403, resource=SECRETS)
    entries = configsnap.take(fake, KIND, revision(fake, 1), SnapshotMode.ALL)
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("warning: no config snapshot of Secret/creds")]
    assert len(err.strip().splitlines()) == 1
    annotations = fake.stored(REPLICASETS, "web-h1")["metadata"]["annotations"]
    assert annotations[configrefs.SNAPSHOT_NOTE] == "Secret/creds: not snapshotted: Forbidden"
    assert [e.snapshot is None for e in entries] == [False, True]
    no_values(err, str(annotations))


def test_a_too_large_object_is_not_snapshotted(fake, capsys):
    web(fake)
    put_config(fake, "A" * (configrefs.MAX_DATA_BYTES + 1), ENCODED[0])
    entries = configsnap.take(fake, KIND, revision(fake, 1), SnapshotMode.ALL)
    assert entries[0].snapshot is None and entries[0].why == "not snapshotted: too large"
    assert "more than a snapshot may" in capsys.readouterr().err
    assert not fake.writes(CONFIGMAPS)


def test_restore_puts_the_snapshot_back_before_the_template_and_prints_no_value(fake, capsys):
    released(fake)
    before = len(fake.writes(dry_runs=False))
    result = rollback_workload(fake, KIND, "web", FLAGS, config=ConfigMode.RESTORE)
    assert fake.stored(CONFIGMAPS, "cfg")["data"] == {"greeting": "A"}
    assert fake.stored(SECRETS, "creds")["data"] == {"password": ENCODED[0]}
    order = [(c.resource.plural, c.dry_run) for c in fake.writes()[before:]
             if c.resource in (CONFIGMAPS, SECRETS, DEPLOYMENTS)]
    assert order == [("deployments", True), ("configmaps", True), ("secrets", True), ("configmaps", False),
                     ("secrets", False), ("deployments", False)]  # pre-flights, writes, then the template
    assert [c.action for c in result.config] == [ConfigAction.UPDATE, ConfigAction.UPDATE]
    no_values(render.rollback_text(result), str(render.rollback_dict(result)), capsys.readouterr().err)


def test_a_denied_restore_changes_nothing(fake):
    released(fake)
    before = len(fake.writes(dry_runs=False))
    fake.fail("patch", status=403, resource=SECRETS)
    with pytest.raises(ForbiddenError):
        rollback_workload(fake, KIND, "web", FLAGS)
    assert fake.stored(CONFIGMAPS, "cfg")["data"] == {"greeting": "B"}
    assert fake.stored(DEPLOYMENTS, "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "img:2"
    # the pre-flight's (the template write, a pod), then the restores' dry runs, the second denied
    assert [(c.resource, c.dry_run) for c in fake.writes()[before:]] == [
        (DEPLOYMENTS, True), (PODS, True), (CONFIGMAPS, True), (SECRETS, True)]


def test_a_recreated_object_and_a_dry_run_that_lists_keys_only(fake):
    released(fake)
    fake.server.delete(SECRETS, "ns", "creds")
    before = len(fake.writes(dry_runs=False))
    result = rollback_workload(fake, KIND, "web", FLAGS, mode="client")
    assert fake.writes(dry_runs=False)[before:] == []
    text = render.rollback_text(result)
    assert "Secret/creds: would be re-created from" in text and "key password: added" in text and "+  A" in text
    no_values(text, str(render.rollback_dict(result)))
    rollback_workload(fake, KIND, "web", FLAGS)
    assert fake.stored(SECRETS, "creds")["data"] == {"password": ENCODED[0]}


def test_the_default_leaves_what_another_workload_reads(fake, capsys):
    released(fake)
    add_deployment(fake, "other", ["img:o"])
    fake.server.objects[(DEPLOYMENTS.qualified, "ns", "other")]["spec"]["template"]["spec"]["volumes"] = [
        {"name": "v", "configMap": {"name": "cfg"}}]
    result = rollback_workload(fake, KIND, "web", FLAGS)
    actions = {c.ref.kind: c.action for c in result.config}
    assert actions == {"ConfigMap": ConfigAction.SHARED, "Secret": ConfigAction.UPDATE}
    assert fake.stored(CONFIGMAPS, "cfg")["data"] == {"greeting": "B"}
    assert "also read by deployment/other" in capsys.readouterr().err


def test_repoint_reads_the_snapshots_and_changes_no_object(fake):
    released(fake)
    rollback_workload(fake, KIND, "web", FLAGS, config=ConfigMode.REPOINT)
    refs = configrefs.references(fake.stored(DEPLOYMENTS, "web")["spec"]["template"])
    snapshots = configrefs.parse_snapshots(fake.stored(REPLICASETS, "web-h1")["metadata"]["annotations"])
    assert set(refs) == {ConfigRef(e.ref.kind, e.snapshot) for e in snapshots}
    assert fake.stored(CONFIGMAPS, "cfg")["data"] == {"greeting": "B"}
    assert not [c for c in fake.writes() if c.resource in (CONFIGMAPS, SECRETS) and c.verb != "create"]


def test_a_missing_snapshot_fails_before_any_write(fake):
    released(fake)
    snapshot = configrefs.parse_snapshots(fake.stored(REPLICASETS, "web-h1")["metadata"]["annotations"])[0].snapshot
    fake.server.delete(CONFIGMAPS, "ns", snapshot)
    writes = len(fake.writes())
    with pytest.raises(RollbackError, match="no longer exists"):
        rollback_workload(fake, KIND, "web", FLAGS)
    assert len(fake.writes()) == writes
    states = configsnap.states(fake, KIND.revisions(fake, fake.stored(DEPLOYMENTS, "web")))
    assert {s.entry.ref.kind: s.exists for s in states["web-h1"]} == {"ConfigMap": False, "Secret": True}


def config_changed_since(fake):
    """deployment/web runs revision 1 (Succeeded, snapshotted with A) and its config has changed to B since: a
    rollback restores only the config (and restarts the pods)."""
    web(fake, images=("img:1",))
    put_config(fake, "A", ENCODED[0])
    configsnap.take(fake, KIND, revision(fake, 1), SnapshotMode.ALL)
    put_config(fake, "B", ENCODED[1])
    return fake


def config_only_and_owned(fake):
    """config_changed_since, and an Argo CD Application with self-heal tracks the Deployment."""
    track_by_argo_cd(config_changed_since(fake), "web")
    return fake


def test_a_config_only_rollback_is_refused_when_gitops_would_undo_it(fake):
    config_only_and_owned(fake)
    before = len(fake.writes(dry_runs=False))
    with pytest.raises(RollbackError, match="managed by Argo CD Application argocd/web"):
        rollback_workload(fake, KIND, "web", FLAGS)
    assert fake.writes(dry_runs=False)[before:] == [] and fake.stored(CONFIGMAPS, "cfg")["data"] == {"greeting": "B"}


def test_a_config_only_rollback_pauses_the_owner_before_its_first_write(fake):
    config_only_and_owned(fake)
    before = len(fake.writes(dry_runs=False))
    result = rollback_workload(fake, KIND, "web", FLAGS, gitops=GitOpsMode.PAUSE)
    assert "its config was restored" in result.message and fake.stored(CONFIGMAPS, "cfg")["data"] == {
        "greeting": "A"}
    assert fake.writes(dry_runs=False)[before].resource == gitops.APPLICATIONS
    assert result.data()["gitops"]["action"] == "paused"


def test_a_config_only_rollback_of_a_paused_deployment_is_refused(fake):
    config_changed_since(fake)
    fake.server.patch(DEPLOYMENTS, "ns", "web", {"spec": {"paused": True}})
    before = len(fake.writes(dry_runs=False))
    with pytest.raises(RollbackError, match="paused"):
        rollback_workload(fake, KIND, "web", FLAGS)
    assert fake.writes(dry_runs=False)[before:] == []


def test_a_restart_that_loses_a_race_is_sent_again_after_the_config_is_back(fake):
    config_changed_since(fake)
    status = fake.stored(DEPLOYMENTS, "web")["status"]
    # The deployment controller writes the status between our read and the restart (pods crash-looping, say).
    fake.before("patch", lambda server: server.set_status(DEPLOYMENTS, "ns", "web", dict(status)),
                resource=DEPLOYMENTS)
    result = rollback_workload(fake, KIND, "web", FLAGS)
    template = fake.stored(DEPLOYMENTS, "web")["spec"]["template"]
    assert configrefs.RESTARTED_AT in template["metadata"].get("annotations", {}), "the pods were never restarted"
    assert fake.stored(CONFIGMAPS, "cfg")["data"] == {"greeting": "A"}
    assert result.changed and "its config was restored" in result.message
    # what the first attempt restored
    assert [c.action for c in result.config] == [ConfigAction.UPDATE, ConfigAction.UPDATE]
