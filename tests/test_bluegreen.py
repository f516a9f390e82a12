"""Blue/Green rapid rollback (Service selectors) and canary clean-up, on the real cluster."""

import json

import pytest

from tests import manifests
from tests import scenarios as sc
from tests.cluster.faultproxy import Rule, status


def deploy_color(ns, color, tag, status, replicas=2):
    sc.deploy_and_record(ns, f"deployment/web-{color}",
                         manifests.colour_deployment("web", color, f"example.test/web:{tag}", replicas), status,
                         *sc.IDENTITY)


def swap(ns):
    live, stage = sc.selectors(ns, "web")
    ns.kubectl("patch", "service/web", "-p", json.dumps({"spec": {"selector": {sc.COLOR: stage}}}))
    ns.kubectl("patch", "service/web-stage", "-p", json.dumps({"spec": {"selector": {sc.COLOR: live}}}))


@pytest.fixture
def blue_live(ns):
    ns.apply(manifests.colour_service("web", "web", "blue", "primary"))
    ns.apply(manifests.colour_service("web-stage", "web", "green", "stage"))
    deploy_color(ns, "blue", "1", "Succeeded")
    return ns


def pod_ips(ns, color):
    pods = ns.items("pods", "-l", f"{sc.COLOR}={color}")
    return sorted(p["status"]["podIP"] for p in pods if p["status"].get("podIP"))


def test_failed_green_is_routed_back_to_blue(blue_live):
    ns = blue_live
    deploy_color(ns, "green", "2", "Succeeded")
    swap(ns)
    ns.plugin("record", "deployment/web-green", "--status", "Failed", check=True)
    assert sc.selectors(ns, "web") == ("green", "blue")

    history = ns.plugin_json("history", "service/web")
    assert (history["liveColor"], history["targetColor"]) == ("green", "blue")
    assert history["colors"]["blue"]["revisions"][0]["status"] == "Succeeded"

    proc = ns.plugin("rollback", "service/web", "--wait", "--timeout", "60s")
    assert proc.returncode == 0, proc.stderr
    assert "routed from green to blue" in proc.stdout
    assert sc.selectors(ns, "web") == ("blue", "green")
    annotations = ns.get("service", "web")["metadata"]["annotations"]
    assert (annotations["harness.io/rolled-back-from"], annotations["harness.io/rolled-back-to"]) == ("green", "blue")
    blue = pod_ips(ns, "blue")
    ns.wait_until(lambda: sc.ready_endpoint_ips(ns, "web") == blue, "the primary's endpoints to list only blue pods")
    reasons = [e["reason"] for e in ns.items("events", "--field-selector", "involvedObject.name=web")]
    assert "HarnessRollback" in reasons


def test_a_half_swap_to_a_failed_colour_routes_the_primary_back_to_the_good_one(blue_live):
    ns = blue_live
    deploy_color(ns, "green", "2", "Succeeded")
    # the swap to green dies after its first write: the primary selects green, and the stage still does
    ns.kubectl("patch", "service/web", "-p", json.dumps({"spec": {"selector": {sc.COLOR: "green"}}}))
    ns.plugin("record", "deployment/web-green", "--status", "Failed", check=True)
    assert sc.selectors(ns, "web") == ("green", "green")

    table = ns.plugin("history", "service/web", check=True).stdout
    assert "stage service/web-stage on green too (a swap was interrupted halfway)" in table
    history = ns.plugin_json("history", "service/web")
    assert (history["liveColor"], history["stageColor"], history["targetColor"]) == ("green", "green", "blue")

    proc = ns.plugin("rollback", "service/web", "--wait", "--timeout", "60s")
    assert proc.returncode == 0, proc.stderr
    assert "routed from green to blue" in proc.stdout
    assert sc.selectors(ns, "web") == ("blue", "green")
    blue = pod_ips(ns, "blue")
    ns.wait_until(lambda: sc.ready_endpoint_ips(ns, "web") == blue, "the primary's endpoints to list only blue pods")


def test_green_on_stage_never_swapped_is_nothing_to_do(blue_live):
    ns = blue_live
    deploy_color(ns, "green", "2", "Succeeded")
    before = ns.get("service", "web")["metadata"]["resourceVersion"]
    proc = ns.plugin("rollback", "service/web")
    assert proc.returncode == 0 and "nothing to do" in proc.stdout
    assert ns.get("service", "web")["metadata"]["resourceVersion"] == before


def test_other_colour_failed_exits_3(blue_live):
    ns = blue_live
    deploy_color(ns, "green", "2-broken", "Failed")
    swap(ns)  # traffic on a failed colour, the good one also failed before: nowhere to go
    ns.plugin("record", "deployment/web-blue", "--status", "Failed", check=True)
    proc = ns.plugin("rollback", "service/web")
    assert proc.returncode == 3, proc.stderr
    assert "cannot be the rollback target: recorded Failed" in proc.stderr
    assert sc.selectors(ns, "web") == ("green", "blue")


def test_scaled_to_zero_is_refused_by_the_ready_check(blue_live):
    ns = blue_live
    deploy_color(ns, "green", "2", "Succeeded")
    swap(ns)
    ns.plugin("record", "deployment/web-green", "--status", "Failed", check=True)
    ns.kubectl("scale", "deployment/web-blue", "--replicas=0")
    ns.wait_until(lambda: not sc.ready_endpoint_ips(ns, "web-stage"), "blue to scale down")
    proc = ns.plugin("rollback", "service/web")
    assert proc.returncode == 1 and "cannot take the traffic" in proc.stderr and "--skip-ready-check" in proc.stderr
    assert sc.selectors(ns, "web") == ("green", "blue")
    for dry_run in ("--dry-run", "--dry-run=server"):
        would = ns.plugin("rollback", "service/web", "--skip-ready-check", dry_run)
        assert would.returncode == 0, would.stderr
        assert "would switch anyway because of --skip-ready-check" in would.stderr, would.stderr
        assert "switching" not in would.stderr, would.stderr
    assert sc.selectors(ns, "web") == ("green", "blue")
    forced = ns.plugin("rollback", "service/web", "--skip-ready-check")
    assert forced.returncode == 0 and "warning:" in forced.stderr
    assert sc.selectors(ns, "web") == ("blue", "green")


def test_a_failed_second_write_leaves_both_selectors_as_they_were(blue_live, proxied):
    ns = blue_live
    deploy_color(ns, "green", "2", "Succeeded")
    swap(ns)
    ns.plugin("record", "deployment/web-green", "--status", "Failed", check=True)
    proxied.proxy.add_rule(Rule(status(500), method="PATCH", path=r"/services/web-stage$", times=None))
    proc = ns.plugin("rollback", "service/web", env=proxied.env)
    assert proc.returncode == 1, proc.stderr
    assert "switched back to green and nothing changed" in proc.stderr
    assert sc.selectors(ns, "web") == ("green", "blue")
    assert "harness.io/rolled-back-to" not in ns.get("service", "web")["metadata"].get("annotations", {})

def test_naming_the_stage_service_points_at_the_primary(blue_live):
    ns = blue_live
    proc = ns.plugin("rollback", "service/web-stage")
    assert proc.returncode == 2, proc.stderr
    assert "service/web-stage is the stage Service of service/web: name the primary Service" in proc.stderr
    assert "web-stage-stage" not in proc.stderr


def test_rollback_deletes_the_canary_unless_kept(ns):
    for tag, state in (("1", "Succeeded"), ("2-broken", "Failed")):
        sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", f"example.test/web:{tag}"), state,
                             *sc.IDENTITY)
    ns.apply(manifests.canary("web", "example.test/web:2-broken"))
    dry = ns.plugin("rollback", "deployment/web", "--dry-run", check=True)
    assert "deployment/web-canary would be deleted (canary)" in dry.stdout
    kept = ns.plugin("rollback", "deployment/web", "--keep-canary", check=True)
    assert "canary" not in kept.stdout
    assert ns.kubectl("get", "deployment/web-canary", check=False).returncode == 0
    again = ns.plugin("rollback", "deployment/web", check=True)  # nothing to do for web, the canary goes
    assert "deployment/web-canary deleted (canary)" in again.stdout
    ns.wait_until(lambda: ns.kubectl("get", "deployment/web-canary", check=False).returncode != 0, "canary deletion")


def test_a_colour_whose_live_revision_is_marked_bad_is_no_target(blue_live):
    ns = blue_live
    deploy_color(ns, "green", "2", "Succeeded")
    swap(ns)
    ns.plugin("record", "deployment/web-green", "--status", "Failed", check=True)
    ns.plugin("mark-bad", "deployment/web-blue", "--revision", "1", "--reason", "blue bad", check=True)

    history = ns.plugin_json("history", "service/web")
    assert history["targetColor"] is None
    proc = ns.plugin("rollback", "service/web")
    assert proc.returncode == 3, proc.stderr
    assert "cannot be the rollback target: marked bad (blue bad)" in proc.stderr
    assert sc.selectors(ns, "web") == ("green", "blue")
