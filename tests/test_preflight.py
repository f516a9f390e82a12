"""Pre-flight (issue 21): a rollback whose target would not run says so before it writes (exit 5), and a StatefulSet
stuck on a bad revision recovers."""

import json

from tests import contract, manifests
from tests import scenarios as sc

BLOCKED = 5


def with_pod_spec(manifest: str, **fields) -> str:
    """A workload manifest whose pod spec also has `fields` (serviceAccountName, volumes, ...)."""
    obj = json.loads(manifest)
    obj["spec"]["template"]["spec"].update(fields)
    return json.dumps(obj)


def pod_image(ns, name: str) -> str:
    return ns.get("pod", name)["spec"]["containers"][0]["image"]


def resource_version(ns, kind: str, name: str) -> str:
    return ns.get(kind, name)["metadata"]["resourceVersion"]


def needy(image: str) -> str:
    """web at `image`, whose pods need ServiceAccount web-sa, PersistentVolumeClaim data and Secret db."""
    container = {"name": "app", "image": image,
                 "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]}
    return with_pod_spec(manifests.deployment("web", image), serviceAccountName="web-sa", containers=[container],
                         volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}])


def two_revisions_of_needy_web(ns) -> None:
    """Revision 1 (Succeeded) needs web-sa, data and db; revision 2 (Failed, live) does not. Snapshots off."""
    sc.deploy_and_record(ns, "deployment/web", needy("example.test/web:1"), "Succeeded", *sc.IDENTITY,
                         "--config-snapshot", "none", rollout=False)
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:2-broken"), "Failed",
                         *sc.IDENTITY)


def test_a_target_whose_service_account_claim_and_secret_are_gone_is_blocked_until_they_are_back(ns):
    two_revisions_of_needy_web(ns)
    before = resource_version(ns, "deployment", "web")

    for dry_run in ((), ("--dry-run",)):
        proc = ns.plugin("rollback", "deployment/web", *dry_run)
        assert proc.returncode == BLOCKED, (proc.returncode, proc.stdout, proc.stderr)
        blocked = [line for line in proc.stderr.splitlines() if line.startswith("deployment/web: pre-flight blocked")]
        assert [line.split(": ")[2] for line in blocked] == [  # in the template's order
            "Secret/db", "PersistentVolumeClaim/data", "ServiceAccount/web-sa"], proc.stderr
        assert "nothing was written" in proc.stderr.splitlines()[-1] and "Traceback" not in proc.stderr
    assert resource_version(ns, "deployment", "web") == before
    assert sc.live_image(ns) == "example.test/web:2-broken"

    proc = ns.plugin("rollback", "deployment/web", "-o", "json")
    assert proc.returncode == BLOCKED, proc.stderr
    result = json.loads(proc.stdout)
    assert result["changed"] is False and result["to"]["revision"] == 1
    verdicts = {(f["check"], f["object"]): f["verdict"] for f in result["preflight"]}
    assert verdicts[("exists", "ServiceAccount/web-sa")] == "blocked"
    assert verdicts[("write", "deployment/web")] == "ok"
    assert resource_version(ns, "deployment", "web") == before

    ns.kubectl("create", "serviceaccount", "web-sa")
    ns.kubectl("create", "secret", "generic", "db", "--from-literal=password=p")
    ns.apply(json.dumps({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
                         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}))
    result = ns.plugin_json("rollback", "deployment/web")
    assert result["changed"] is True and result["to"]["revision"] == 1
    assert {f["verdict"] for f in result["preflight"]} == {"ok"}, result["preflight"]
    assert sc.live_image(ns) == "example.test/web:1"


def test_skip_preflight_writes_anyway_and_says_so(ns):
    two_revisions_of_needy_web(ns)
    proc = ns.plugin("rollback", "deployment/web", "--skip-preflight")
    assert proc.returncode == 0, proc.stderr
    assert "--skip-preflight: the rollback writes without checking" in proc.stderr
    assert sc.live_image(ns) == "example.test/web:1"


def test_a_secret_the_rollback_restores_from_its_snapshot_does_not_block(ns):
    ns.kubectl("create", "secret", "generic", "db", "--from-literal=password=p")
    image = "example.test/web:1"
    container = {"name": "app", "image": image,
                 "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]}
    sc.deploy_and_record(ns, "deployment/web", with_pod_spec(manifests.deployment("web", image),
                                                             containers=[container]), "Succeeded", *sc.IDENTITY)
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:2-broken"), "Failed",
                         *sc.IDENTITY)
    ns.kubectl("delete", "secret", "db")
    result = ns.plugin_json("rollback", "deployment/web")
    assert result["changed"] is True
    secret = [f for f in result["preflight"] if f["object"] == "Secret/db"]
    assert [(f["verdict"], f["message"]) for f in secret] == [
        ("ok", "restored by this rollback from its config snapshot")]
    assert ns.get("secret", "db")["data"]["password"]


def test_a_blocked_rollback_says_the_secret_would_be_re_created_not_that_it_was(ns):
    ns.kubectl("create", "secret", "generic", "db", "--from-literal=password=p")
    sc.deploy_and_record(ns, "deployment/web", needy("example.test/web:1"), "Succeeded", *sc.IDENTITY, rollout=False)
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:2-broken"), "Failed",
                         *sc.IDENTITY)
    ns.kubectl("delete", "secret", "db")
    proc = ns.plugin("rollback", "deployment/web")
    assert proc.returncode == BLOCKED, (proc.stdout, proc.stderr)
    config = [line for line in proc.stdout.splitlines() if line.startswith("config: Secret/db: ")]
    assert len(config) == 1 and config[0].startswith("config: Secret/db: would be re-created from "), proc.stdout
    assert ns.items("secrets", "--field-selector", "metadata.name=db") == []


def test_an_admission_refusal_of_the_targets_pod_is_blocked_with_the_servers_message(ns):
    big = with_pod_spec(manifests.deployment("web", "example.test/web:1"), containers=[
        {"name": "app", "image": "example.test/web:1", "resources": {"limits": {"cpu": "500m"}}}])
    sc.deploy_and_record(ns, "deployment/web", big, "Succeeded", *sc.IDENTITY)
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:2-broken"), "Failed",
                         *sc.IDENTITY)
    ns.apply(json.dumps({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "small"},
                         "spec": {"limits": [{"type": "Container", "max": {"cpu": "200m"}}]}}))
    before = resource_version(ns, "deployment", "web")
    proc = ns.plugin("rollback", "deployment/web")
    assert proc.returncode == BLOCKED, (proc.stdout, proc.stderr)
    blocked = [line for line in proc.stderr.splitlines() if line.startswith("deployment/web: pre-flight blocked")]
    assert len(blocked) == 1 and "a pod of deployment/web's target" in blocked[0], proc.stderr
    assert "maximum cpu usage per Container is 200m" in blocked[0], blocked
    assert resource_version(ns, "deployment", "web") == before


def test_a_statefulset_stuck_on_a_bad_revision_is_ready_at_the_target_after_rollback_wait(ns):
    sc.deploy_and_record(ns, "statefulset/db", manifests.statefulset("db", "example.test/db:1"), "Succeeded",
                         *sc.IDENTITY)
    sc.deploy_and_record(ns, "statefulset/db", manifests.statefulset("db", "example.test/db:2-broken"), "Failed",
                         *sc.IDENTITY)
    ns.wait_until(lambda: pod_image(ns, "db-0") == "example.test/db:2-broken",
                  "db-0 on the broken revision")

    dry = ns.plugin("rollback", "statefulset/db", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "pod/db-0 would be deleted (not Ready on the revision left)" in dry.stdout, dry.stdout
    assert pod_image(ns, "db-0") == "example.test/db:2-broken"

    proc = ns.plugin("rollback", "statefulset/db", "--wait", "--timeout", "60s")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "pod/db-0 deleted (not Ready on the revision left)" in proc.stdout, proc.stdout
    status = ns.get("statefulset", "db")["status"]
    assert status.get("readyReplicas") == 1 and status["currentRevision"] == status["updateRevision"], status
    assert pod_image(ns, "db-0") == "example.test/db:1"


def test_a_harness_declarative_dry_run_names_the_writes_the_run_makes(ns):
    """kubectl apply'd objects that the target release stores unchanged: the re-apply still writes (it takes their
    fields over with server-side apply), so the dry run must not say "unchanged" for them."""
    from tests import harness_fixtures as hf

    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}

    def release(tag):
        return [json.loads(manifests.deployment("web", f"example.test/web:{tag}")), service]

    ns.apply(json.dumps(hf.release_secret("rel", 3, "Succeeded", release("3"))))
    ns.apply(json.dumps(hf.release_secret("rel", 4, "Failed", release("4-broken"))))
    for manifest in release("4-broken"):  # what release 4 applied, client-side as Harness does
        ns.apply(json.dumps(manifest))

    def outcomes(*args):
        data = ns.plugin_json("rollback", "--harness-release", "rel", *args)
        return {o["workload"]: o["outcome"] for o in data["results"]}

    dry = outcomes("--dry-run")
    server = outcomes("--dry-run=server")
    real = outcomes()
    assert dry == server == real == {"deployment/web": "rolled back", "service/web": "rolled back"}, (dry, real)
    assert outcomes("--dry-run") == outcomes() == {"deployment/web": "nothing to do", "service/web": "nothing to do"}


def test_a_harness_declarative_release_is_blocked_before_its_first_write_until_what_it_needs_is_back(ns):
    """Issue 21: the stored manifests are what a declarative rollback writes, so they are what is checked: each
    object's apply in a dry run, the objects its workloads' pods reference (those the release itself re-applies
    count as there) and a dry-run pod of each. Blocked: exit 5, nothing written, Harness's book-keeping neither."""
    from tests import harness_fixtures as hf

    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    stored_config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config-3"},
                     "data": {"mode": "good"}}
    container = {"name": "app", "image": "example.test/web:3", "envFrom": [{"configMapRef": {"name": "web-config-3"}}],
                 "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]}
    good = json.loads(with_pod_spec(manifests.deployment("web", "example.test/web:3"), serviceAccountName="web-sa",
                                    containers=[container]))
    broken = [json.loads(manifests.deployment("web", "example.test/web:4-broken")), service]
    ns.apply(json.dumps(hf.release_secret("rel", 3, "Succeeded", [good, service, stored_config])))
    ns.apply(json.dumps(hf.release_secret("rel", 4, "Failed", broken)))
    for manifest in broken:  # what release 4 applied
        ns.apply(json.dumps(manifest))
    written = (("deployment", "web"), ("service", "web"), ("secret", "harness.release.rel.4"))

    before = {what: resource_version(ns, *what) for what in written}
    for dry_run in ((), ("--dry-run",), ("--dry-run=server",)):
        proc = ns.plugin("rollback", "--harness-release", "rel", *dry_run)
        assert proc.returncode == BLOCKED, (dry_run, proc.returncode, proc.stdout, proc.stderr)
        blocked = [line for line in proc.stderr.splitlines() if line.startswith("deployment/web: pre-flight blocked")]
        assert [line.split(": ")[2] for line in blocked] == ["Secret/db", "ServiceAccount/web-sa"], proc.stderr
        assert "configmap/web-config-3" not in proc.stderr.lower(), proc.stderr  # the release re-applies it
        assert "Traceback" not in proc.stderr
        assert {what: resource_version(ns, *what) for what in written} == before, dry_run
    assert ns.items("configmap", "--field-selector", "metadata.name=web-config-3") == []

    proc = ns.plugin("rollback", "--harness-release", "rel", "-o", "json")
    assert proc.returncode == BLOCKED, proc.stderr
    document = contract.validated(proc.stdout, "json", "RollbackResult")
    assert {o["workload"]: o["outcome"] for o in document["results"]} == {
        "deployment/web": "blocked", "service/web": "blocked", "configmap/web-config-3": "blocked"}, document
    verdicts = {(f["check"], f["object"]): f["verdict"] for f in document["preflight"]}
    assert verdicts[("exists", "ServiceAccount/web-sa")] == "blocked", verdicts
    assert verdicts[("exists", "ConfigMap/web-config-3")] == "ok", verdicts
    assert verdicts[("write", "service/web")] == verdicts[("pod", "a pod of deployment/web's target")] == "ok"
    assert {what: resource_version(ns, *what) for what in written} == before

    ns.kubectl("create", "serviceaccount", "web-sa")
    ns.kubectl("create", "secret", "generic", "db", "--from-literal=password=p")
    document = ns.plugin_json("rollback", "--harness-release", "rel")
    assert {o["outcome"] for o in document["results"]} == {"rolled back"}, document
    assert {f["verdict"] for f in document["preflight"]} == {"ok"}, document["preflight"]
    assert sc.live_image(ns) == "example.test/web:3"


def test_a_quota_that_only_slows_the_rollback_is_a_warning_and_the_rollback_completes(ns):
    """Issue 21: the target's pod would exceed a ResourceQuota now (no room for the surge pod), but the rollout
    frees room as it takes old pods down (maxUnavailable 1): a warning, not a block, and the rollback completes."""
    def web(tag: str) -> str:
        obj = json.loads(manifests.deployment("web", f"example.test/web:{tag}", replicas=2))
        obj["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 1, "maxUnavailable": 1}
        return json.dumps(obj)

    sc.deploy_and_record(ns, "deployment/web", web("1"), "Succeeded", *sc.IDENTITY)
    sc.deploy_and_record(ns, "deployment/web", web("2"), "Failed", *sc.IDENTITY, rollout=False)
    ns.rollout_status("deployment/web")  # revision 2 runs both pods: revision 1 has none left
    ns.wait_until(lambda: len(ns.items("pods")) == 2, "the two pods of revision 2 alone")
    ns.apply(json.dumps({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "pods"},
                         "spec": {"hard": {"pods": "2"}}}))
    ns.wait_until(lambda: (ns.get("resourcequota", "pods").get("status") or {}).get("used", {}).get("pods") == "2",
                  "the resourcequota controller to count the two pods")

    proc = ns.plugin("rollback", "deployment/web", "--wait", "--timeout", "120s", "-o", "json")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    result = contract.validated(proc.stdout, "json", "RollbackResult")
    [pod] = [f for f in result["preflight"] if f["check"] == "pod"]
    assert pod["verdict"] == "warning" and "exceeded quota: pods" in pod["message"], pod
    assert "rollout is slowed" in pod["message"], pod
    assert [line for line in proc.stderr.splitlines() if "pre-flight warning" in line] == [
        f"deployment/web: pre-flight warning: a pod of deployment/web's target: {pod['message']}"], proc.stderr
    assert result["changed"] is True and result["rolledOut"] is True, result
    assert sc.live_image(ns) == "example.test/web:1"
