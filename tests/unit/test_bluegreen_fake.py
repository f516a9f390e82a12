"""Blue/Green through the fake API (rollback service/NAME: the switch, its undo, the interrupted switch) and the
pure layout and colour decisions (bluegreen.find_layout, bluegreen.choose_color)."""

import dataclasses

import pytest

from kubectl_rollback import bluegreen
from kubectl_rollback.decide import Revision
from kubectl_rollback.errors import ApiError, NoTargetError, RollbackError, UsageError
from kubectl_rollback.kube import DEPLOYMENTS, ENDPOINTS, EVENTS, PODS, SERVICES
from kubectl_rollback.marks import Barrier, Stamp
from kubectl_rollback.records import ROLLED_BACK_FROM, ROLLED_BACK_TO, Identity, InfraMapping, Record, Status
from tests.fakekube import add_deployment, recorded
from tests.unit.entry_points import FLAGS, rollback_service, service_history

COLOR = bluegreen.COLOR_LABEL


def service(name, color, role=None, app="web", annotations=None):
    notes = dict(annotations or {})
    if role:
        notes[f"harness.io/{role}-service"] = "true"
    return {"metadata": {"name": name, "annotations": notes}, "spec": {"selector": {"app": app, COLOR: color}}}


def colour(fake, color, status, available=1, app="web"):
    deployment, _ = add_deployment(fake, f"{app}-{color}", [f"img:{color}"], labels={"app": app, COLOR: color},
                                   annotations=[recorded(status)])
    if not available:
        fake.server.set_status(DEPLOYMENTS, "ns", f"{app}-{color}", {"availableReplicas": 0})


@pytest.fixture
def pair(fake):
    """Green live and recorded Failed; blue recorded Succeeded, ready behind the stage Service: the rollback routes
    the primary back to blue."""
    colour(fake, "blue", "Succeeded")
    colour(fake, "green", "Failed")
    fake.server.create(SERVICES, "ns", service("web", "green", "primary"))
    fake.server.create(SERVICES, "ns", service("web-stage", "blue", "stage"))
    fake.server.create(ENDPOINTS, "ns", {"metadata": {"name": "web-stage"},
                                         "subsets": [{"addresses": [{"ip": "192.0.2.10"}]}]})
    return fake


def colours(fake):
    return tuple(fake.stored(SERVICES, name)["spec"]["selector"][COLOR] for name in ("web", "web-stage"))


def audit(fake):
    notes = fake.stored(SERVICES, "web")["metadata"]["annotations"]
    return {k: v for k, v in notes.items() if k in (ROLLED_BACK_FROM, ROLLED_BACK_TO)}


def events(fake):
    return [(e["involvedObject"]["kind"], e["involvedObject"]["name"], e["message"]) for e in fake.list(EVENTS)]


def test_history_names_the_other_colour_as_the_target(pair):
    state = service_history(pair, "web", FLAGS)
    assert state.problem is None and state.target_color == "blue"
    assert state.layout.live_color == "green" and sorted(state.colors) == ["blue", "green"]


def test_the_primary_goes_back_and_the_stage_takes_the_failed_colour(pair):
    result = rollback_service(pair, "web", FLAGS)
    assert result.changed
    assert result.message == "service/web routed from green to blue (stage service/web-stage now green)"
    assert colours(pair) == ("blue", "green")
    assert audit(pair) == {ROLLED_BACK_FROM: "green", ROLLED_BACK_TO: "blue"}
    assert events(pair) == [("Service", "web",
                             "routed back from green to blue by alice@example.test with kubectl-harness-rollback")]


def test_a_live_colour_recorded_succeeded_is_nothing_to_do(fake):
    colour(fake, "blue", "Failed")
    colour(fake, "green", "Succeeded")
    fake.server.create(SERVICES, "ns", service("web", "green", "primary"))
    fake.server.create(SERVICES, "ns", service("web-stage", "blue", "stage"))
    result = rollback_service(fake, "web", FLAGS)
    assert not result.changed and "nothing to do" in result.message
    assert fake.writes() == []


def test_dry_runs_change_nothing(pair):
    assert not rollback_service(pair, "web", FLAGS, mode="client").changed
    assert pair.writes(dry_runs=False) == []
    before = len(pair.writes())  # the pre-flight's dry runs of both selector writes
    assert not rollback_service(pair, "web", FLAGS, mode="server").changed
    assert [(c.name, c.dry_run) for c in pair.writes()[before:]] == [("web", True), ("web-stage", True)] * 2
    assert colours(pair) == ("green", "blue") and events(pair) == []


def test_a_failed_stage_write_switches_the_primary_back(pair):
    before = {ROLLED_BACK_FROM: "blue", ROLLED_BACK_TO: "green"}  # an earlier rollback's audit
    pair.server.patch(SERVICES, "ns", "web", {"metadata": {"annotations": before}})
    pair.fail("patch", nth=2, status=500, resource=SERVICES, name="web-stage")  # 1: the pre-flight's dry run
    with pytest.raises(ApiError) as failed:
        rollback_service(pair, "web", FLAGS)
    assert failed.value.message.startswith("could not switch the stage Service, so service/web was switched back "
                                           "to green and nothing changed: ")
    assert colours(pair) == ("green", "blue")
    assert audit(pair) == before
    assert events(pair) == []


def test_a_stage_write_that_landed_without_an_answer_is_not_undone(pair):
    pair.lose_answer("patch", nth=2, resource=SERVICES, name="web-stage")  # 1: the pre-flight's dry run
    result = rollback_service(pair, "web", FLAGS)
    assert result.changed and colours(pair) == ("blue", "green")
    assert audit(pair) == {ROLLED_BACK_FROM: "green", ROLLED_BACK_TO: "blue"}
    assert len(events(pair)) == 1


def test_a_stage_write_that_landed_before_a_gateway_timeout_is_not_undone(pair):
    pair.fail("patch", nth=2, status=504, applied=True, resource=SERVICES, name="web-stage")  # 1: the pre-flight
    assert rollback_service(pair, "web", FLAGS).changed
    assert colours(pair) == ("blue", "green")


def test_when_the_undo_fails_too_the_message_says_how_to_fix_it_by_hand(pair):
    pair.fail("patch", nth=2, status=500, resource=SERVICES, name="web-stage")  # 1: the pre-flight's dry runs
    pair.fail("patch", nth=3, status=503, resource=SERVICES, name="web")
    with pytest.raises(RollbackError) as failed:
        rollback_service(pair, "web", FLAGS)
    message = failed.value.message
    assert message.startswith("switched service/web, then could not switch the stage Service")
    assert message.endswith("""fix it by hand: kubectl patch service/web -p '{"spec":{"selector":"""
                            """{"harness.io/color":"green"}}}'""")
    assert colours(pair) == ("blue", "blue")  # as the message says: half-switched


@pytest.mark.parametrize("wait", [False, True])
def test_an_interrupted_switch_is_completed(pair, wait):
    pair.server.patch(SERVICES, "ns", "web", {"spec": {"selector": {COLOR: "blue"}}})  # the stage write never came
    assert not rollback_service(pair, "web", FLAGS, mode="client").changed
    assert colours(pair) == ("blue", "blue")
    # The primary's routing does not change, so --wait has nothing to wait for (it waited for "None" pods until
    # its timeout, then failed with exit 4).
    result = rollback_service(pair, "web", FLAGS, wait=wait, timeout=0.5)
    assert result.changed and "completed the interrupted switch (stage now green)" in result.message
    assert colours(pair) == ("blue", "green")


def half_swapped(fake, blue_ready):
    """A swap to green that died after the primary's write: both Services select green, which is recorded Failed;
    no Service selects blue, whose pod is Ready or not."""
    fake.server.patch(SERVICES, "ns", "web-stage", {"spec": {"selector": {COLOR: "green"}}})
    ready = {"type": "Ready", "status": "True" if blue_ready else "False"}
    fake.server.create(PODS, "ns", {"metadata": {"name": "web-blue-1", "labels": {"app": "web", COLOR: "blue"}},
                                    "status": {"podIP": "192.0.2.11", "conditions": [ready]}})
    return fake


def test_a_half_swap_to_a_failed_colour_routes_the_primary_to_the_good_one(pair):
    half_swapped(pair, blue_ready=True)
    state = service_history(pair, "web", FLAGS)
    assert (state.layout.live_color, state.layout.stage_selects, state.target_color) == ("green", "green", "blue")
    result = rollback_service(pair, "web", FLAGS)
    assert result.changed and result.message == ("service/web routed from green to blue (stage service/web-stage "
                                                  "already on green: a swap to green had been interrupted)")
    assert colours(pair) == ("blue", "green")
    assert [c.name for c in pair.writes(SERVICES, dry_runs=False)] == ["web"]  # the stage selects the failed colour
    assert audit(pair) == {ROLLED_BACK_FROM: "green", ROLLED_BACK_TO: "blue"}


def test_a_half_swap_checks_the_good_colour_s_own_pods_since_no_service_selects_them(pair):
    half_swapped(pair, blue_ready=False)
    with pytest.raises(RollbackError) as refused:
        rollback_service(pair, "web", FLAGS)
    assert "deployment/web-blue has 1 available replicas and 0 ready pods" in refused.value.message
    assert pair.writes() == [] and colours(pair) == ("green", "green")


def test_a_switch_made_by_another_client_meanwhile_leaves_nothing_to_do(pair):
    def other_client(server):
        server.patch(SERVICES, "ns", "web", {"spec": {"selector": {COLOR: "blue"}}})
        server.patch(SERVICES, "ns", "web-stage", {"spec": {"selector": {COLOR: "green"}}})

    pair.before("patch", other_client, nth=2, resource=SERVICES, name="web")  # 1: the pre-flight's dry run
    result = rollback_service(pair, "web", FLAGS)
    assert not result.changed and "already routes to blue" in result.message
    assert len(pair.writes(SERVICES, dry_runs=False)) == 1 and colours(pair) == ("blue", "green")


def test_a_target_colour_without_ready_pods_is_refused_unless_told(fake, capsys):
    colour(fake, "blue", "Succeeded", available=0)
    colour(fake, "green", "Failed")
    fake.server.create(SERVICES, "ns", service("web", "green", "primary"))
    fake.server.create(SERVICES, "ns", service("web-stage", "blue", "stage"))
    with pytest.raises(RollbackError) as refused:
        rollback_service(fake, "web", FLAGS)
    assert ("the blue colour cannot take the traffic: deployment/web-blue has 0 available replicas and "
            "service/web-stage 0 ready endpoints; scale it up") in refused.value.message
    assert fake.writes() == []
    assert rollback_service(fake, "web", FLAGS, skip_ready_check=True).changed
    assert "switching anyway because of --skip-ready-check" in capsys.readouterr().err
    assert colours(fake) == ("blue", "green")


# -- find_layout -------------------------------------------------------------------------------------------------


def deployment(name, color, app="web"):
    labels = {"app": app, COLOR: color}
    return {"metadata": {"name": name}, "spec": {"template": {"metadata": {"labels": labels}}}}


LAID_OUT = [deployment("web-blue", "blue"), deployment("web-green", "green"), deployment("api-blue", "blue", "api")]


def test_layout_prefers_the_annotated_stage_service_and_matches_deployments_by_labels():
    primary = service("web", "green", "primary")
    services = [primary, service("web-stage", "blue"), service("web-preview", "blue", "stage"),
                service("api-stage", "blue", app="api")]
    layout = bluegreen.find_layout(primary, services, LAID_OUT)
    assert layout.stage["metadata"]["name"] == "web-preview"
    assert (layout.live_color, layout.stage_color) == ("green", "blue")
    assert {c: d["metadata"]["name"] for c, d in layout.deployments.items()} == {"blue": "web-blue",
                                                                                 "green": "web-green"}


def test_layout_falls_back_to_the_stage_name_and_allows_a_missing_colour():
    primary = service("web", "blue")
    layout = bluegreen.find_layout(primary, [primary, service("web-stage", "green")], LAID_OUT[:1])
    assert layout.stage["metadata"]["name"] == "web-stage" and list(layout.deployments) == ["blue"]


def test_layout_refuses_a_primary_without_a_colour_or_a_stage():
    plain = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}}
    with pytest.raises(UsageError, match="does not select a colour"):
        bluegreen.find_layout(plain, [plain], LAID_OUT)
    colourless_stage = {"metadata": {"name": "web-stage"}, "spec": {"selector": {"app": "web"}}}
    primary = service("web", "blue")
    with pytest.raises(RollbackError, match="no stage Service for service/web") as missing:
        bluegreen.find_layout(primary, [primary, colourless_stage, service("other-stage", "blue", app="x")],
                              LAID_OUT)
    assert missing.value.exit_code == 1  # a missing object, not a usage error


def test_layout_refuses_two_deployments_of_one_colour():
    primary = service("web", "blue")
    with pytest.raises(RollbackError, match="more than one Deployment serves the blue colour of service/web: "
                                            "web-blue, web-blue-2"):
        bluegreen.find_layout(primary, [primary, service("web-stage", "green")],
                              LAID_OUT + [deployment("web-blue-2", "blue")])


# -- choose_color ------------------------------------------------------------------------------------------------

IDENTITY = Identity("wf1", InfraMapping("svc", "infra", "test-cluster", "ns"))


def revision(number, status, workflow="wf1"):
    record = Record(status=status, workflow_id=workflow, service_id="svc", infra_id="infra",
                    cluster_name="test-cluster")
    return Revision(number, f"rs-{number}", record, (), None, live=True)


def layout(deployments=("blue", "green")):
    by_color = {c: deployment(f"web-{c}", c) for c in deployments}
    return bluegreen.Layout(service("web", "green"), service("web-stage", "blue"), "green", by_color)


def test_the_live_colour_recorded_succeeded_for_the_identity_stays():
    assert bluegreen.choose_color(layout(), revision(2, Status.SUCCEEDED), revision(1, Status.SUCCEEDED),
                                  IDENTITY) is None


def test_a_live_colour_succeeded_for_another_workflow_is_left_for_the_other_colour():
    assert bluegreen.choose_color(layout(), revision(2, Status.SUCCEEDED, "wf2"), revision(1, Status.SUCCEEDED),
                                  IDENTITY) == "blue"


@pytest.mark.parametrize("deployments, candidate, reason", [
    (("green",), None, "no Deployment serves the blue colour"),
    (("blue", "green"), None, "the blue colour (deployment/web-blue) has no revision for its current template yet"),
    (("blue", "green"), revision(1, Status.FAILED), "revision 1) cannot be the rollback target: recorded Failed"),
    (("blue", "green"), revision(1, Status.SUCCEEDED, "wf2"), "cannot be the rollback target: another workflow (wf2)"),
])
def test_the_other_colour_must_be_a_recorded_success_of_the_identity(deployments, candidate, reason):
    with pytest.raises(NoTargetError) as none:
        bluegreen.choose_color(layout(deployments), revision(2, Status.FAILED), candidate, IDENTITY)
    assert reason in none.value.message


def test_a_colour_marked_bad_or_behind_a_barrier_is_no_target():
    stamp = Stamp("bad data", "alice", "2026-01-01T00:00:00Z")
    marked = dataclasses.replace(revision(1, Status.SUCCEEDED), marked_bad=stamp)
    with pytest.raises(NoTargetError, match=r"revision 1\) cannot be the rollback target: marked bad \(bad data\)"):
        bluegreen.choose_color(layout(), revision(2, Status.FAILED), marked, IDENTITY)
    barrier = Barrier(2, "hash-2", dataclasses.replace(stamp, reason="schema v2"))
    with pytest.raises(NoTargetError, match=r"cannot be the rollback target: behind the barrier at revision 2 "
                                            r"\(schema v2\)"):
        bluegreen.choose_color(layout(), revision(2, Status.FAILED), revision(1, Status.SUCCEEDED), IDENTITY,
                               [barrier])


def test_a_live_colour_marked_bad_is_left_for_the_other_colour():
    live = dataclasses.replace(revision(2, Status.SUCCEEDED), marked_bad=Stamp("slow", None, "2026-01-01T00:00:00Z"))
    assert bluegreen.choose_color(layout(), live, revision(1, Status.SUCCEEDED), IDENTITY) == "blue"


@pytest.mark.parametrize("stage_annotated", [True, False])
def test_naming_the_stage_service_points_at_the_primary(fake, stage_annotated):
    colour(fake, "blue", "Succeeded")
    colour(fake, "green", "Failed")
    fake.server.create(SERVICES, "ns", service("web", "green"))
    fake.server.create(SERVICES, "ns", service("web-stage", "blue", "stage" if stage_annotated else None))
    with pytest.raises(UsageError) as refused:
        rollback_service(fake, "web-stage", FLAGS)
    assert refused.value.message == ("service/web-stage is the stage Service of service/web: name the primary Service, "
                                     "which takes the traffic")
    assert colours(fake) == ("green", "blue")


@pytest.mark.parametrize("mode", ["client", "server"])
def test_a_dry_run_says_what_the_switch_would_do_in_every_state(pair, mode):
    """A dry run changed nothing: no line of it says that the stage is now on a colour or that a switch was
    completed, whether the pair is whole, half-swapped, or half-switched by our own interrupted switch."""
    assert rollback_service(pair, "web", FLAGS, mode=mode).message == (
        "service/web would be routed from green to blue (stage service/web-stage would then select green)")
    pair.server.patch(SERVICES, "ns", "web-stage", {"spec": {"selector": {COLOR: "green"}}})  # half-swapped to green
    assert rollback_service(pair, "web", FLAGS, mode=mode, skip_ready_check=True).message == (
        "service/web would be routed from green to blue (stage service/web-stage already on green: a swap to green "
        "had been interrupted)")
    pair.server.patch(SERVICES, "ns", "web", {"spec": {"selector": {COLOR: "blue"}}})  # our own switch, half done
    pair.server.patch(SERVICES, "ns", "web-stage", {"spec": {"selector": {COLOR: "blue"}}})
    assert rollback_service(pair, "web", FLAGS, mode=mode).message == (
        "service/web and its stage service/web-stage both select blue: would complete the interrupted switch (stage "
        "would then select green)")
    assert colours(pair) == ("blue", "blue")


@pytest.mark.parametrize(("mode", "marker"), [("client", " (dry run)"), ("server", " (server dry run)")])
def test_a_dry_runs_document_says_so_in_its_message_as_its_line_does(pair, mode, marker):
    result = rollback_service(pair, "web", FLAGS, mode=mode)
    assert result.data()["message"] == result.table(wide=False) == result.message + marker


def test_a_wait_whose_primary_another_deploy_routes_elsewhere_fails_saying_the_switch_was_done(pair, monkeypatch):
    from kubectl_rollback import interrupts
    from kubectl_rollback.errors import WaitFailedError

    def newer_swap(seconds):  # another pipeline swaps the colours again while we wait for blue's endpoints
        pair.server.patch(SERVICES, "ns", "web", {"spec": {"selector": {COLOR: "green"}}})

    monkeypatch.setattr(interrupts, "sleep", newer_swap)
    with pytest.raises(WaitFailedError) as stopped:
        rollback_service(pair, "web", FLAGS, wait=True, timeout=30)
    assert stopped.value.message.startswith("service/web routed from green to blue (stage service/web-stage now "
                                            "green), but service/web stopped selecting blue before ")
    assert "(a newer deploy or another rollback routed it to green)" in stopped.value.message
    assert "kubectl harness-rollback history service/web -n ns" in stopped.value.message
