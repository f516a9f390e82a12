"""The pure parts of the test harness itself: when a Deployment counts as at rest (what the cluster tests wait for
before counting the plugin's requests), how make flake-check reads a run's outcome, and which server version's
binaries a run uses."""

from pathlib import Path

import pytest

from tests.cluster.controlplane import bin_dir, on_oldest_server, server_version
from tests.flake_check import outcomes
from tests.scenarios import at_rest


def replicaset(image: str, wanted: int, replicas: int, available: int, generation: int = 1, observed: int = 1) -> dict:
    return {"metadata": {"generation": generation}, "spec": {"replicas": wanted, "template": {"spec": {
        "containers": [{"image": image}]}}},
        "status": {"observedGeneration": observed, "replicas": replicas, "availableReplicas": available}}


def deployment(replicas: int, available: int, generation: int = 2, observed: int = 2) -> dict:
    return {"metadata": {"generation": generation},
            "status": {"observedGeneration": observed, "replicas": replicas, "availableReplicas": available}}


def test_a_finished_rollout_is_at_rest():
    sets = [replicaset("example.test/web:1", 0, 0, 0, 2, 2), replicaset("example.test/web:2", 1, 1, 1)]
    assert at_rest(deployment(1, 1), sets)


def test_a_stuck_rollout_of_a_broken_image_is_at_rest_once_scaled():
    sets = [replicaset("example.test/web:1", 1, 1, 1), replicaset("example.test/web:2-broken", 0, 0, 0, 2, 2),
            replicaset("example.test/web:3-broken", 1, 1, 0)]
    assert at_rest(deployment(2, 1), sets)


def test_anything_the_controllers_still_have_to_write_is_not_at_rest():
    good = replicaset("example.test/web:1", 1, 1, 1)
    assert not at_rest(deployment(1, 1), [])  # no ReplicaSet yet
    assert not at_rest(deployment(1, 1, generation=3), [good])  # a new spec not yet observed
    assert not at_rest(deployment(1, 0), [good])  # the Deployment's counts lag behind its ReplicaSet
    assert not at_rest(deployment(1, 1), [replicaset("example.test/web:1", 1, 1, 0)])  # a pod not yet available
    assert not at_rest(deployment(1, 1), [replicaset("example.test/web:1", 1, 1, 1, 2, 1)])  # scaled, not observed
    assert not at_rest(deployment(2, 1), [good, replicaset("example.test/web:0", 0, 1, 0, 2, 2)])  # a pod to go


def test_flake_check_reads_every_outcome_from_the_junit_report(tmp_path: Path):
    report = tmp_path / "run.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_deployment" name="test_ok" />'
        '<testcase classname="tests.test_deployment" name="test_pruned_target_exits_3">'
        '<failure message="boom" /></testcase>'
        '<testcase classname="tests.test_reliability" name="test_fault_matrix[rollback-timeout]">'
        '<error message="teardown" /></testcase>'
        '<testcase classname="tests.test_krew_archive" name="test_bin"><skipped message="no kubectl" /></testcase>'
        "</testsuite></testsuites>")
    assert outcomes(report) == (
        1,
        ["tests/test_deployment.py::test_pruned_target_exits_3",
         "tests/test_reliability.py::test_fault_matrix[rollback-timeout]"],
        ["tests/test_krew_archive.py::test_bin"],
    )


def test_the_server_version_defaults_to_1_35_and_picks_its_own_folder(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("KHR_K8S_VERSION", raising=False)
    monkeypatch.delenv("KHR_TESTENV_BIN", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert (server_version(), on_oldest_server()) == ("1.35", False)
    assert bin_dir() == tmp_path / "kubectl-harness-rollback" / "testenv" / "1.35" / "bin"
    monkeypatch.setenv("KHR_K8S_VERSION", "1.20")
    assert (server_version(), on_oldest_server()) == ("1.20", True)
    assert bin_dir() == tmp_path / "kubectl-harness-rollback" / "testenv" / "1.20" / "bin"


def test_an_unknown_server_version_is_refused_naming_the_supported_ones(monkeypatch):
    monkeypatch.setenv("KHR_K8S_VERSION", "1.29")
    with pytest.raises(RuntimeError, match="KHR_K8S_VERSION=1.29: supported server versions are 1.35, 1.20"):
        server_version()
