"""The test cluster itself behaves like Kubernetes: the real controllers, the real kubectl, RBAC, and the node
simulator giving ready pods (or unready ones for a failed rollout)."""

import json

from tests import manifests


def rs_revisions(ns, app):
    return sorted(
        (int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]),
         rs["spec"]["template"]["spec"]["containers"][0]["image"])
        for rs in ns.items("rs", "-l", f"app={app}")
    )


def test_deployment_revisions_rollout_and_undo(ns):
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    ns.rollout_status("deployment/web")
    for tag in ("2", "3"):
        ns.kubectl("set", "image", "deployment/web", f"app=example.test/web:{tag}")
        ns.rollout_status("deployment/web")
    assert rs_revisions(ns, "web") == [(1, "example.test/web:1"), (2, "example.test/web:2"), (3, "example.test/web:3")]
    ns.kubectl("rollout", "undo", "deployment/web", "--to-revision=1")
    ns.rollout_status("deployment/web")
    assert rs_revisions(ns, "web") == [(2, "example.test/web:2"), (3, "example.test/web:3"), (4, "example.test/web:1")]
    status = ns.get("deployment", "web")["status"]
    assert status["availableReplicas"] == 1 and status["updatedReplicas"] == 1


def test_statefulset_and_daemonset_keep_controller_revisions(ns):
    ns.apply(manifests.statefulset("db", "example.test/db:1"))
    ns.apply(manifests.daemonset("agent", "example.test/agent:1"))
    ns.rollout_status("statefulset/db")
    ns.rollout_status("daemonset/agent")
    ns.kubectl("set", "image", "statefulset/db", "app=example.test/db:2")
    ns.kubectl("set", "image", "daemonset/agent", "app=example.test/agent:2")
    ns.rollout_status("statefulset/db")
    ns.rollout_status("daemonset/agent")
    for app in ("db", "agent"):
        revisions = sorted(cr["revision"] for cr in ns.items("controllerrevisions", "-l", f"app={app}"))
        assert revisions == [1, 2], app


def test_failed_rollout_exceeds_progress_deadline(ns):
    ns.apply(manifests.deployment("bad", "example.test/bad:broken", progress_deadline=3))

    def deadline_exceeded():
        conditions = ns.get("deployment", "bad").get("status", {}).get("conditions", [])
        return any(c["type"] == "Progressing" and c["reason"] == "ProgressDeadlineExceeded" for c in conditions)

    ns.wait_until(deadline_exceeded, "ProgressDeadlineExceeded", timeout=60)
    proc = ns.kubectl("rollout", "status", "deployment/bad", "--timeout=20s", check=False)
    assert proc.returncode != 0 and "exceeded its progress deadline" in proc.stderr


def test_endpoints_list_ready_pods(ns):
    ns.apply(manifests.deployment("web", "example.test/web:1", replicas=2))
    ns.kubectl("expose", "deployment/web", "--port=80")
    ns.rollout_status("deployment/web")

    def addresses():
        subsets = ns.get("endpoints", "web").get("subsets") or []
        return [a["ip"] for s in subsets for a in s.get("addresses") or []]

    assert len(ns.wait_until(lambda: len(addresses()) == 2 and addresses(), "two endpoint addresses")) == 2


def test_limited_user_is_denied_until_a_role_grants(ns, cluster):
    limited = dict(cluster.env, KUBECONFIG=cluster.plane.limited_kubeconfig)
    denied = ns.kubectl("get", "deployments", env=limited, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    ns.kubectl("create", "role", "read-deploy", "--verb=list", "--resource=deployments")
    ns.kubectl("create", "rolebinding", "read-deploy", "--role=read-deploy", "--user=limited")
    allowed = ns.wait_until(
        lambda: (p := ns.kubectl("get", "deployments", "-o", "json", env=limited, check=False)).returncode == 0 and p,
        "the RoleBinding to take effect",
    )
    assert json.loads(allowed.stdout)["items"] == []
