"""The pre-flight's rules (kubectl_rollback/preflight.py), and a rollback blocked by it through the fake API."""

import pytest

from kubectl_rollback import preflight
from kubectl_rollback.decide import Outcome, exit_code_for
from kubectl_rollback.errors import ExitCode, PreflightBlockedError
from kubectl_rollback.kube import DEPLOYMENTS, PODS, REPLICASETS, SERVICE_ACCOUNTS
from kubectl_rollback.preflight import Reference, Refusal, Severity
from kubectl_rollback.workloads.deployment import DeploymentKind
from tests.fakekube import FakeKube, add_deployment, recorded
from tests.unit.entry_points import FLAGS, rollback_release, rollback_workload

RBAC = ('pods "x" is forbidden: User "jane" cannot create resource "pods" in API group "" in the namespace "shop"')


def test_references_name_every_object_the_pods_need_once():
    template = {"spec": {
        "serviceAccountName": "web-sa", "priorityClassName": "high", "runtimeClassName": "gvisor",
        "imagePullSecrets": [{"name": "registry"}, {"name": "db"}],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "c", "configMap": {"name": "cfg", "optional": True}}],
        "containers": [{"name": "app", "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db"}}}]}]}}
    assert [(r.key, r.required) for r in preflight.references(template)] == [
        ("ConfigMap/cfg", False), ("Secret/db", True), ("PersistentVolumeClaim/data", True),
        ("ServiceAccount/web-sa", True), ("Secret/registry", False), ("PriorityClass/high", True),
        ("RuntimeClass/gvisor", True)]
    assert preflight.references({"spec": {"containers": [{"name": "app"}]}}) == []  # the default account: not named


def test_existence_blocks_what_the_pods_need_and_only_that():
    gone = Refusal(404, 'secrets "db" not found')
    needed, optional = Reference("Secret", "db"), Reference("Secret", "db", required=False)
    assert preflight.existence(needed, gone, False, {}).verdict is Severity.BLOCKED
    assert 'secrets "db" not found' in preflight.existence(needed, gone, False, {}).message
    restored = preflight.existence(needed, gone, False, {"Secret/db": preflight.RELEASE})  # by the rollback itself
    assert (restored.verdict, restored.message) == (
        Severity.OK, "restored by this rollback from the release it re-applies")
    assert preflight.existence(optional, gone, False, {}).verdict is Severity.OK  # the template allows for it
    pull = Reference("Secret", "db", required=False, pull_secret=True)
    assert preflight.existence(pull, gone, False, {}).verdict is Severity.WARNING  # a private image would not pull
    assert preflight.existence(needed, None, True, ()).message.startswith("is being deleted")
    assert preflight.existence(needed, None, False, {}).verdict is Severity.OK
    denied = preflight.existence(needed, Refusal(403, RBAC.replace("create", "get")), False, {})
    assert denied.verdict is Severity.INCONCLUSIVE and "may not get pods" in denied.message


@pytest.mark.parametrize("refusal, verdict", [
    (None, Severity.OK),
    (Refusal(403, 'pods "x" is forbidden: violates PodSecurity "restricted:latest"'), Severity.BLOCKED),
    (Refusal(422, "ValidatingAdmissionPolicy 'no-old' denied request"), Severity.BLOCKED),
    (Refusal(403, RBAC), Severity.INCONCLUSIVE),
    (Refusal(400, 'admission webhook "check.example.com" does not support dry run'), Severity.INCONCLUSIVE),
    (Refusal(500, "etcdserver: request timed out"), Severity.INCONCLUSIVE),
    (Refusal(0, "cannot reach the API server"), Severity.INCONCLUSIVE),
    (Refusal(403, 'pods "x" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=4, limited: pods=4'),
     Severity.WARNING),
])
def test_admission_of_a_pod(refusal, verdict):
    finding = preflight.admission("pod", "a pod of deployment/web's target", refusal)
    assert finding.verdict is verdict
    if refusal is not None and verdict is Severity.BLOCKED:
        assert finding.message == refusal.message  # the server's own words


def test_a_quota_refusing_the_write_itself_blocks():
    refusal = Refusal(403, "exceeded quota: count/deployments.apps")
    assert preflight.admission("write", "deployment/web", refusal).verdict is Severity.BLOCKED


def test_a_blocked_release_workload_exits_5_unless_another_failed():
    assert exit_code_for([Outcome.ROLLED_BACK, Outcome.BLOCKED, Outcome.NO_TARGET]) is ExitCode.PREFLIGHT_BLOCKED
    assert exit_code_for([Outcome.BLOCKED, Outcome.FAILED]) is ExitCode.ERROR


def released_pair(fake: FakeKube) -> None:
    """Deployments a and b of release r1, each InProgress on revision 2 with revision 1 Succeeded; a's revision 1
    runs as ServiceAccount a-sa, which does not exist."""
    for name in ("a", "b"):
        _, sets = add_deployment(fake, name, ["img:1", "img:2"], labels={"harness.io/release-name": "r1"},
                                 annotations=[recorded("Succeeded"), recorded("InProgress")])
        if name == "a":
            fake.server.patch(REPLICASETS, fake.namespace, sets[0]["metadata"]["name"],
                              {"spec": {"template": {"spec": {"serviceAccountName": "a-sa"}}}})


def test_a_blocked_rollback_writes_nothing_and_carries_what_it_would_have_done():
    fake = FakeKube()
    released_pair(fake)
    with pytest.raises(PreflightBlockedError) as blocked:
        rollback_workload(fake, DeploymentKind(), "a", FLAGS)
    assert blocked.value.exit_code == 5 and "ServiceAccount/a-sa" in blocked.value.message
    assert fake.writes(dry_runs=False) == []
    result = blocked.value.result
    assert result.target.number == 1 and not result.changed
    assert [(f["object"], f["verdict"]) for f in result.data()["preflight"]] == [
        ("deployment/a", "ok"), ("ServiceAccount/a-sa", "blocked"), ("a pod of deployment/a's target", "ok")]
    assert result.failure().exit_code == 5


def test_a_release_rolls_back_the_others_and_exits_5():
    fake = FakeKube()
    released_pair(fake)
    result = rollback_release(fake, "r1", FLAGS)
    assert [(o.display, o.outcome) for o in result.outcomes] == [
        ("deployment/a", Outcome.BLOCKED), ("deployment/b", Outcome.ROLLED_BACK)]
    assert int(result.exit_code) == 5
    assert fake.writes(DEPLOYMENTS, dry_runs=False)[0].name == "b"


def test_a_check_the_server_fails_is_inconclusive_and_does_not_block():
    fake = FakeKube()
    released_pair(fake)
    fake.server.create(SERVICE_ACCOUNTS, fake.namespace, {"metadata": {"name": "a-sa"}})
    fake.fail("create", status=503, resource=PODS)
    result = rollback_workload(fake, DeploymentKind(), "a", FLAGS)
    assert result.changed
    pod = [f for f in result.preflight.findings if f.check == "pod"]
    assert [f.verdict for f in pod] == [Severity.INCONCLUSIVE]


def test_skip_preflight_checks_nothing():
    fake = FakeKube()
    released_pair(fake)
    result = rollback_workload(fake, DeploymentKind(), "a", FLAGS, skip_preflight=True)
    assert result.changed and result.preflight.skipped and result.preflight.findings == ()
    assert result.data()["preflight"] == [] and "skipped (--skip-preflight)" in result.table(False)
