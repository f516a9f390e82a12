"""`watch` with `harness.io/verify` (issue 31): each rollout of an annotated workload is measured by the watcher
against a real Prometheus before it is Succeeded; a Failed analysis is rolled back by --auto-rollback, an
Inconclusive or Error one never is; and the loop keeps recording other workloads while an analysis runs.

The exporter serves a revision's traffic only once its ReplicaSet (and so its pod-template-hash) exists, so each
test applies the revision, waits until Prometheus itself answers the ratio, and only then starts the watcher, which
finds the completed rollout unrecorded and claims it.
"""

from __future__ import annotations

import json

import pytest

from tests import manifests, scenarios
from tests.prometheus_fixture import exporter, prometheus  # noqa: F401 (fixtures)
from tests.scenarios import IDENTITY, STATUS
from tests.test_verify import (  # noqa: F401 (argo_crds is a fixture)
    VERIFICATION,
    VERIFICATION_MESSAGE,
    argo_crds,
    filled,
    ratio_query,
    template,
    wait_for_ratio,
)
from tests.watching import (
    AUTO_ROLLBACK_AT,
    AUTO_ROLLBACK_OUTCOME,
    RECORDED_REVISION,
    record_of,
    start_watch_fixture,
    wait_for_status,
)

start_watch = pytest.fixture(start_watch_fixture)
VERIFIED = {"harness.io/verify": "analysistemplate/error-ratio"}


def apply_template(ns, address: str, **metric) -> None:
    document = template(ratio_query("pod-template-hash"), "result[0] <= 0.05", **metric)
    document["spec"]["args"][0]["value"] = address
    ns.apply(json.dumps(document))


def applied(ns, app: str, image: str, annotations=None) -> str:
    """`app` running `image` applied: the pod-template-hash of its ReplicaSet."""
    ns.apply(manifests.deployment(app, image, annotations=annotations))
    rs = scenarios.wait_until(lambda: scenarios.rs_by_image(ns, app).get(image), f"{app}'s ReplicaSet of {image}")
    return rs["metadata"]["labels"]["pod-template-hash"]


def serving(exporter, prometheus, pod_template_hash: str, error_ratio: float) -> None:  # noqa: F811
    exporter.serve(pod_template_hash, 50, error_ratio)
    wait_for_ratio(prometheus, filled(ratio_query("pod-template-hash"), pod_template_hash=pod_template_hash),
                   error_ratio)


def good_then_second(ns, exporter, prometheus, error_ratio: float) -> None:  # noqa: F811
    """web revision 1 recorded Succeeded by the pipeline, revision 2 rolled out, serving `error_ratio`."""
    scenarios.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1",
                                                                           annotations=VERIFIED), "Succeeded",
                                *IDENTITY)
    serving(exporter, prometheus, applied(ns, "web", "example.test/web:2", VERIFIED), error_ratio)
    ns.rollout_status("deployment/web")


def test_watch_rolls_back_a_rollout_whose_analysis_failed(ns, argo_crds, exporter, prometheus,  # noqa: F811
                                                          start_watch):
    apply_template(ns, prometheus.url)
    good_then_second(ns, exporter, prometheus, 0.3)
    watch = start_watch("--auto-rollback", *IDENTITY)  # the identity revision 1 was recorded with
    record = wait_for_status(ns, "web", "example.test/web:2", "Failed")
    assert record[VERIFICATION] == "Failed", record
    assert "'result[0] <= 0.05' is false" in record[VERIFICATION_MESSAGE]
    ns.wait_until(lambda: scenarios.live_image(ns) == "example.test/web:1", "web rolled back to example.test/web:1")
    outcome = ns.wait_until(lambda: record_of(ns, "web", "example.test/web:2").get(AUTO_ROLLBACK_OUTCOME),
                            "the auto-rollback's outcome")
    assert outcome.startswith("rolled back to revision"), outcome
    measured = [line for line in watch.lines("measured") if line["workload"] == "deployment/web"]
    assert [(m["metric"], m["outcome"]) for m in measured] == [("error-ratio", "Failed")], measured
    assert abs(json.loads(measured[0]["value"])[0] - 0.3) < 0.005
    assert [line["outcome"] for line in watch.lines("rolled-back")] == ["revision 1"]


def test_watch_leaves_an_errored_analysis_in_progress_and_rolls_nothing_back(
        ns, argo_crds, exporter, prometheus, start_watch):  # noqa: F811
    apply_template(ns, "http://127.0.0.1:9", consecutiveErrorLimit=0)  # nothing listens there: an Error at once
    good_then_second(ns, exporter, prometheus, 0.3)
    start_watch("--auto-rollback", *IDENTITY)
    record = ns.wait_until(lambda: (r := record_of(ns, "web", "example.test/web:2")).get(VERIFICATION) and r,
                           "revision 2's verdict")
    assert record[VERIFICATION] == "Error" and record[STATUS] == "InProgress", record
    assert "cannot reach Prometheus" in record[VERIFICATION_MESSAGE]
    # The watcher queued web again after its verdict; one worker takes the queue in order, so once api (applied
    # after the verdict) is recorded, web's decision after the verdict has been taken too.
    ns.apply(manifests.deployment("api", "example.test/api:1"))
    wait_for_status(ns, "api", "example.test/api:1", "Succeeded")
    assert scenarios.live_image(ns) == "example.test/web:2"
    after = record_of(ns, "web", "example.test/web:2")
    assert after[STATUS] == "InProgress" and AUTO_ROLLBACK_AT not in after, after


def test_watch_records_other_workloads_while_an_analysis_runs(ns, argo_crds, exporter, prometheus,  # noqa: F811
                                                             start_watch):
    apply_template(ns, prometheus.url, count=20)
    serving(exporter, prometheus, applied(ns, "web", "example.test/web:1", VERIFIED), 0.01)
    ns.rollout_status("deployment/web")
    watch = start_watch()
    ns.wait_until(lambda: watch.lines("measured"), "web's first measurement")
    ns.apply(manifests.deployment("api", "example.test/api:1"))
    wait_for_status(ns, "api", "example.test/api:1", "Succeeded")
    during = record_of(ns, "web", "example.test/web:1")
    assert during[STATUS] == "InProgress" and VERIFICATION not in during, during
    assert len(watch.lines("measured")) < 20
    record = wait_for_status(ns, "web", "example.test/web:1", "Succeeded", timeout=180)
    assert record[VERIFICATION] == "Successful", record
    assert [m["count"] for m in watch.lines("measured")] == [f"{n} of 20" for n in range(1, 21)]


def test_watch_never_analyses_again_the_revision_its_rollback_restored(ns, argo_crds, exporter, prometheus,  # noqa: F811,E501
                                                                     start_watch):
    """Revision 2 passes its analysis; revision 3 fails its and is rolled back to revision 2 (rolled out again as
    revision 4). Revision 2's traffic has turned bad meanwhile (a dependency both share): analysing the restored
    revision would fail it too and walk back to revision 1. Its rollout alone decides its record."""
    apply_template(ns, prometheus.url, count=1, interval="")
    scenarios.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1",
                                                                           annotations=VERIFIED), "Succeeded",
                                *IDENTITY)
    second = applied(ns, "web", "example.test/web:2", VERIFIED)
    serving(exporter, prometheus, second, 0.01)
    watch = start_watch("--auto-rollback", *IDENTITY)
    wait_for_status(ns, "web", "example.test/web:2", "Succeeded")
    serving(exporter, prometheus, second, 0.3)
    third = applied(ns, "web", "example.test/web:3", VERIFIED)
    serving(exporter, prometheus, third, 0.3)
    wait_for_status(ns, "web", "example.test/web:3", "Failed")

    def restored_and_recorded():
        record = record_of(ns, "web", "example.test/web:2")
        return record if record.get(RECORDED_REVISION) == "4" and record.get(STATUS) != "InProgress" else None

    record = ns.wait_until(restored_and_recorded, "revision 2 restored as revision 4, its outcome recorded")
    assert record[STATUS] == "Succeeded", record
    restored = [line for line in watch.lines("recorded") if line["revision"] == 4]
    assert [line["outcome"] for line in restored] == ["Succeeded"], restored
    assert "revision 2 restored by the rollback at" in restored[0]["why"], restored
    assert "not analysed again" in restored[0]["why"], restored
    assert scenarios.live_image(ns) == "example.test/web:2"
    assert [line["outcome"] for line in watch.lines("rolled-back")] == ["revision 2"]
    assert [line["revision"] for line in watch.lines("verifying")] == [2, 3]
