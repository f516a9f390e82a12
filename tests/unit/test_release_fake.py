"""rollback --release-name / history --all through the fake API: the plan, each workload's outcome, and the exit
code they add up to (1 if any failed, else 3 if any had no target, else 0)."""

import pytest

from kubectl_rollback.commands import wait
from kubectl_rollback.errors import ApiError, Interrupted, NotFoundError, WaitFailedError
from kubectl_rollback.kube import CONFIGMAPS, DAEMONSETS, DEPLOYMENTS, SECRETS, STATEFULSETS
from kubectl_rollback.options import GitOpsMode
from tests.fakekube import (
    add_controller_revision_workload,
    add_deployment,
    recorded,
    run_deployment_controller,
    track_by_argo_cd,
)
from tests.harness_fixtures import build_history_data, release_entry, workload_entry
from tests.unit.entry_points import (
    FAILED,
    FLAGS,
    NO_TARGET,
    NOTHING_TO_DO,
    ROLLED_BACK,
    exit_code_for,
    outcome,
    release_histories,
    rollback_harness_release,
    rollback_release,
)

RELEASE = {"harness.io/release-name": "r1"}
GOOD_THEN_UNFINISHED = [recorded("Succeeded"), recorded("InProgress")]


def image(fake, resource, name):
    return fake.stored(resource, name)["spec"]["template"]["spec"]["containers"][0]["image"]


def add(fake, name, annotations, labels=RELEASE):
    images = [f"img:{name}{n}" for n in range(1, len(annotations) + 1)]
    add_deployment(fake, name, images, labels=labels, annotations=annotations)


@pytest.fixture
def release(fake):
    """Release r1: a (to roll back), b (already on its last good revision), c (first deployment), the StatefulSet db
    (to roll back); and x, outside the release."""
    add(fake, "a", GOOD_THEN_UNFINISHED)
    add(fake, "b", [recorded("Failed"), recorded("Succeeded")])
    add(fake, "c", [recorded("InProgress")])
    add(fake, "x", GOOD_THEN_UNFINISHED, labels={})
    add_controller_revision_workload(fake, STATEFULSETS, "db", ["img:db1", "img:db2"],
                                     annotations=GOOD_THEN_UNFINISHED, labels=RELEASE)
    return fake


def outcomes(result):
    return [(o.display, o.outcome) for o in result.outcomes]


def test_the_plan_is_the_release_only_each_with_its_own_revisions(release):
    plan = release_histories(release, FLAGS, "r1")
    assert [h.display for h in plan] == ["deployment/a", "deployment/b", "deployment/c", "statefulset/db"]
    assert [[r.number for r in h.revisions] for h in plan] == [[2, 1], [2, 1], [1], [2, 1]]
    assert [h.target.number if h.target else None for h in plan] == [1, 2, None, 1]
    assert "first deployment" in plan[2].problem.message
    assert "deployment/x" in [h.display for h in release_histories(release, FLAGS)]  # --all


def test_each_workload_goes_to_its_own_target_and_a_no_target_exits_3(release):
    seen = []
    result = rollback_release(release, "r1", FLAGS, on_outcome=lambda o: seen.append(o.display))
    assert outcomes(result) == [("deployment/a", ROLLED_BACK), ("deployment/b", NOTHING_TO_DO),
                                ("deployment/c", NO_TARGET), ("statefulset/db", ROLLED_BACK)]
    assert seen == ["deployment/a", "deployment/b", "deployment/c", "statefulset/db"]
    assert int(result.exit_code) == 3
    assert image(release, DEPLOYMENTS, "a") == "img:a1" and image(release, STATEFULSETS, "db") == "img:db1"
    assert image(release, DEPLOYMENTS, "b") == "img:b2" and image(release, DEPLOYMENTS, "x") == "img:x2"


def test_one_failure_does_not_stop_the_others_and_exits_1(release):
    add(release, "d", GOOD_THEN_UNFINISHED)
    release.fail("patch", nth=2, status=500, resource=DEPLOYMENTS, name="d")  # 1: the pre-flight's dry run
    result = rollback_release(release, "r1", FLAGS)
    assert outcomes(result)[3] == ("deployment/d", FAILED)
    assert "cannot patch deployments.apps \"d\"" in result.outcomes[3].message
    assert outcomes(result)[4] == ("statefulset/db", ROLLED_BACK) and image(release, STATEFULSETS, "db") == "img:db1"
    assert image(release, DEPLOYMENTS, "d") == "img:d2"
    assert int(result.exit_code) == 1


def test_a_workload_deleted_after_the_plan_is_a_failure_of_its_own(release):
    release.before("get", lambda server: server.delete(DEPLOYMENTS, "ns", "a"), resource=DEPLOYMENTS, name="a")
    result = rollback_release(release, "r1", FLAGS)
    assert outcomes(result)[0] == ("deployment/a", FAILED) and "not found" in result.outcomes[0].message.lower()
    assert outcomes(result)[3] == ("statefulset/db", ROLLED_BACK)
    assert int(result.exit_code) == 1


def test_all_rolled_back_or_nothing_to_do_exits_0(fake):
    add(fake, "a", GOOD_THEN_UNFINISHED)
    add(fake, "b", [recorded("Succeeded")])
    result = rollback_release(fake, "r1", FLAGS)
    assert outcomes(result) == [("deployment/a", ROLLED_BACK), ("deployment/b", NOTHING_TO_DO)]
    assert int(result.exit_code) == 0


@pytest.mark.parametrize("mode, said", [("client", "(dry run)"), ("server", "(server dry run)")])
def test_a_dry_run_counts_as_the_real_run_will_and_says_would(release, mode, said):
    dry = rollback_release(release, "r1", FLAGS, mode=mode)
    assert all(write.dry_run for write in release.writes()) and image(release, DEPLOYMENTS, "a") == "img:a2"
    lines = [o.table(False) for o in dry.outcomes]
    assert lines[0].startswith("deployment/a: would roll back: deployment/a would be rolled back from")
    assert said in lines[0]
    assert lines[1].startswith("deployment/b: nothing to do: ") and "rolled back" not in lines[1].split(": ")[1]
    assert dry.table(False) == (f"4 workloads: 2 would roll back, 1 nothing to do, 1 no target, 0 failed {said}")
    assert dry.data()["dryRun"] == mode and {r["dryRun"] for r in dry.data()["results"]} == {mode}

    real = rollback_release(release, "r1", FLAGS)
    assert outcomes(real) == outcomes(dry)
    assert real.table(False) == "4 workloads: 2 rolled back, 1 nothing to do, 1 no target, 0 failed"
    assert real.data()["dryRun"] == "none" and real.data()["summary"] == dry.data()["summary"]


def test_a_workload_gitops_would_undo_fails_alone_by_default(release):
    track_by_argo_cd(release, "a")
    result = rollback_release(release, "r1", FLAGS)
    a = result.outcomes[0]
    assert (a.display, a.outcome) == ("deployment/a", FAILED) and "Argo CD Application argocd/a" in a.message
    assert image(release, DEPLOYMENTS, "a") == "img:a2" and image(release, STATEFULSETS, "db") == "img:db1"
    assert int(result.exit_code) == 1


def test_each_workload_reports_its_gitops_owner_as_rollback_kind_name_does(release, capsys):
    track_by_argo_cd(release, "a")
    a = rollback_release(release, "r1", FLAGS, gitops=GitOpsMode.IGNORE).outcomes[0]
    assert (a.display, a.outcome) == ("deployment/a", ROLLED_BACK)
    assert (a.data()["gitops"]["owner"], a.data()["gitops"]["action"]) == ("Argo CD Application argocd/a", "ignored")
    assert any("revert the change in Git" in note for note in a.notes())
    err = capsys.readouterr().err
    assert "warning: deployment/a: Argo CD Application argocd/a (auto-sync with self-heal is on) will undo" in err


def test_a_kind_the_role_does_not_allow_is_skipped_with_a_warning(release, capsys):
    release.fail("list", status=403, resource=STATEFULSETS)
    plan = release_histories(release, FLAGS, "r1")
    assert [h.display for h in plan] == ["deployment/a", "deployment/b", "deployment/c"]
    assert 'skipped: cannot list statefulsets.apps in namespace "ns": Forbidden (403)' in capsys.readouterr().err


def test_no_kind_allowed_is_the_error_itself(release):
    for resource in (DEPLOYMENTS, STATEFULSETS, DAEMONSETS):
        release.fail("list", status=403, resource=resource)
    with pytest.raises(ApiError) as forbidden:
        release_histories(release, FLAGS, "r1")
    assert forbidden.value.status == 403 and "deployments.apps" in forbidden.value.message


def test_another_listing_error_is_not_mistaken_for_a_denial(release):
    release.fail("list", status=500, resource=DAEMONSETS)
    with pytest.raises(ApiError) as failed:
        release_histories(release, FLAGS, "r1")
    assert failed.value.status == 500


@pytest.mark.parametrize("kinds, code", [
    ((), 0),
    ((NOTHING_TO_DO, ROLLED_BACK), 0),
    ((ROLLED_BACK, NO_TARGET), 3),
    ((NO_TARGET, FAILED, ROLLED_BACK), 1),
    ((FAILED,), 1),
])
def test_exit_code_adds_up_the_outcomes(kinds, code):
    assert exit_code_for([outcome(f"deployment/w{i}", k) for i, k in enumerate(kinds)]) == code


# -- Harness's own release history (--harness-release): the same outcomes, the target revisions from Harness -------

HARNESS_RELEASES = [
    release_entry(3, "Failed", [workload_entry("Deployment", "a", None, "2")]),
    release_entry(2, "Succeeded", [workload_entry("Deployment", "a", None, "1"),
                                   workload_entry("StatefulSet", "db", "shop", "1"),
                                   workload_entry("Deployment", "gone", None, None),
                                   workload_entry("CronJob", "nightly", None, "1")]),
]


def test_a_harness_release_rolls_each_workload_to_its_recorded_revision_across_namespaces(fake):
    add(fake, "a", [recorded("Failed"), recorded("Failed")])  # Harness's target needs no record of ours
    add_controller_revision_workload(fake.in_namespace("shop"), STATEFULSETS, "db", ["img:db1", "img:db2"])
    fake.server.create(CONFIGMAPS, "ns", {"metadata": {"name": "release-x"},
                                          "data": build_history_data(HARNESS_RELEASES, "zlib", secret=False)})
    result = rollback_harness_release(fake, "release-x")
    assert outcomes(result) == [("deployment/a", ROLLED_BACK), ("shop/statefulset/db", ROLLED_BACK),
                                ("deployment/gone", NO_TARGET), ("cronjob/nightly", FAILED)]
    assert int(result.exit_code) == 1
    assert image(fake, DEPLOYMENTS, "a") == "img:a1"
    assert fake.server.get(STATEFULSETS, "shop", "db")["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "img:db1"
    assert fake.writes(CONFIGMAPS) == []  # not every workload rolled back: Harness's history is left as it was


def test_a_harness_history_in_a_secret_is_found_when_no_configmap_has_the_name(fake):
    add(fake, "a", [{}, {}])
    fake.server.create(SECRETS, "ns", {"metadata": {"name": "release-x"},
                                       "data": build_history_data(HARNESS_RELEASES[:1] + [release_entry(
                                           2, "Succeeded", [workload_entry("Deployment", "a", None, "1")])],
                                           None, secret=True)})
    run_deployment_controller(fake, "a")
    result = rollback_harness_release(fake, "release-x")
    assert outcomes(result) == [("deployment/a", ROLLED_BACK)] and int(result.exit_code) == 0
    # Harness's book-keeping, in the Secret it was read from: release 3 Failed already, release 2's revision renumbered
    assert [(w.display, w.message) for w in result.history_writes] == [
        ("secret/release-x", "release 2 deployment/a revision 1 -> 3")]
    with pytest.raises(NotFoundError) as missing:
        rollback_harness_release(fake, "release-y")
    assert 'no ConfigMap or Secret named "release-y" in namespace "ns"' in missing.value.message


def test_ctrl_c_in_a_release_names_every_workload_already_written(release, monkeypatch):
    waits = []

    def first_wait_fails_second_interrupted(kube, kind, name, revision, timeout, followed=None):
        waits.append(name)
        raise WaitFailedError("gave up after --timeout 3s") if len(waits) == 1 else KeyboardInterrupt

    monkeypatch.setattr(wait, "wait_for_rollout", first_wait_fails_second_interrupted)
    with pytest.raises(Interrupted) as raised:
        rollback_release(release, "r1", FLAGS, wait=True)
    assert waits == ["a", "db"]  # b needs nothing, c has no target; a was rolled back, its rollout failed
    assert raised.value.message == (
        "interrupted; already rolled back: deployment/a; interrupted while waiting: statefulset/db rolled back 2 -> 1;"
        " the rollout goes on; follow it with: kubectl rollout status statefulset/db -n ns")
    assert image(release, STATEFULSETS, "db") == "img:db1"


def test_ctrl_c_at_the_first_workload_names_the_ones_not_rolled_back_and_how_to_finish(release, monkeypatch):
    def interrupted_wait(kube, kind, name, revision, timeout, followed=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(wait, "wait_for_rollout", interrupted_wait)
    with pytest.raises(Interrupted) as raised:
        rollback_release(release, "r1", FLAGS, wait=True)
    assert raised.value.message == (
        "interrupted; interrupted while waiting: deployment/a rolled back 2 -> 1; the rollout goes on; follow it with: "
        "kubectl rollout status deployment/a -n ns; not rolled back yet: deployment/b, deployment/c, statefulset/db; "
        "to roll them back, run: kubectl harness-rollback rollback --release-name r1 -n ns --service-id=svc "
        "--infra-id=infra --timeout=300s --wait")


def test_a_canary_in_the_release_goes_with_its_primary_not_as_a_workload(fake):
    add(fake, "web", GOOD_THEN_UNFINISHED)
    add_deployment(fake, "web-canary", ["img:canary"], labels=dict(RELEASE, **{"harness.io/track": "canary"}))
    dry = rollback_release(fake, "r1", FLAGS, mode="server")
    assert outcomes(dry) == [("deployment/web", ROLLED_BACK)]
    assert dry.outcomes[0].table(False).endswith("\n  deployment/web-canary would be deleted (canary)")
    real = rollback_release(fake, "r1", FLAGS)
    assert outcomes(real) == outcomes(dry) and real.outcomes[0].data()["canaries"] == ["deployment/web-canary"]
    assert fake.stored(DEPLOYMENTS, "web-canary") is None
