"""verify's pure parts: the AnalysisTemplate subset (analysis.py), Argo Rollouts' measurement, limit and phase rules
(verdict.py), Prometheus's answers (prometheus.parse_answer), and the measurement loop and args through the fake API
(commands/measure.py)."""

import base64
import dataclasses
import json
import math

import pytest

from kubectl_rollback import analysis, render, verdict
from kubectl_rollback.commands import measure, record, verify
from kubectl_rollback.errors import NoTargetError, RollbackError, UsageError
from kubectl_rollback.kube import REPLICASETS, SECRETS
from kubectl_rollback.options import IdentityFlags, RecordRequest, VerifyRequest
from kubectl_rollback.prometheus import PrometheusError, parse_answer
from kubectl_rollback.records import Status
from kubectl_rollback.verdict import Measurement, Phase
from kubectl_rollback.workloads.deployment import DeploymentKind
from tests.fakekube import add_deployment, recorded


def document(**metric) -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate", "metadata": {"name": "t"},
        "spec": {"args": [{"name": "threshold", "value": "0.05"}], "metrics": [dict({
            "name": "m", "successCondition": "result[0] <= {{args.threshold}}",
            "provider": {"prometheus": {"address": "http://prom:9090", "query": "up"}}}, **metric)]},
    }


def metric(**fields) -> analysis.Metric:
    template = analysis.check_template(document(**fields), "t.yaml")
    return analysis.resolve_metrics(template, {"threshold": "0.05"}, "t.yaml")[0]


# -- the template -------------------------------------------------------------------------------------------------


def test_every_supported_field_is_typed():
    m = metric(interval="1m30s", initialDelay="10s", count="5", failureCondition="result[0] > 0.2", failureLimit=2,
               inconclusiveLimit=1, consecutiveErrorLimit="0", provider={"prometheus": {
                   "address": "https://prom", "query": "up", "timeout": 5, "insecure": True,
                   "headers": [{"key": "X-Scope-OrgID", "value": "tenant_a"}]}})
    assert (m.interval, m.initial_delay, m.count) == (90.0, 10.0, 5)
    assert (m.failure_limit, m.inconclusive_limit, m.consecutive_error_limit) == (2, 1, 0)
    assert m.prometheus == analysis.Prometheus("https://prom", "up", 5.0, (("X-Scope-OrgID", "tenant_a"),), True)
    assert m.success_condition == "result[0] <= 0.05" and m.failure_condition == "result[0] > 0.2"


@pytest.mark.parametrize("change, message", [
    (lambda d: d["spec"]["metrics"][0]["provider"].update(web={"url": "x"}), "spec.metrics[0].provider.web is not "
                                                                             "supported"),
    (lambda d: d["spec"]["metrics"][0].update(consecutiveSuccessLimit=2), "spec.metrics[0].consecutiveSuccessLimit"),
    (lambda d: d["spec"]["metrics"][0]["provider"]["prometheus"].update(rangeQuery={}), "prometheus.rangeQuery is "
                                                                                        "not supported"),
    (lambda d: d["spec"]["metrics"][0]["provider"]["prometheus"].update(authentication={}), "authentication"),
    (lambda d: d["spec"].update(dryRun=[{"metricName": "m"}]), "spec.dryRun is not supported"),
    (lambda d: d["spec"].update(templates=[]), "spec.templates is not supported"),
    (lambda d: d["spec"]["args"][0].update(valueFrom={"fieldRef": {}}, value=None), "has both value and valueFrom"),
    (lambda d: d["spec"]["args"].append({"name": "a", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}),
     "spec.args[1].valueFrom.fieldRef is not supported"),
    (lambda d: d.update(kind="Rollout"), "expected argoproj.io/v1alpha1 AnalysisTemplate or ClusterAnalysisTemplate"),
    (lambda d: d["spec"].update(metrics=[]), "spec.metrics is empty"),
    (lambda d: d["spec"]["metrics"][0]["provider"].pop("prometheus"), "provider.prometheus is not an object"),
    (lambda d: d.update(status={}), "status is not supported"),
])
def test_fields_outside_the_subset_are_refused_naming_them(change, message):
    doc = document()
    change(doc)
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        analysis.check_template(doc, "t.yaml")


@pytest.mark.parametrize("fields, message", [
    ({"count": 3}, "count is 3 with no interval"),
    ({"interval": "1m"}, "count is missing: with an interval"),
    ({"interval": "1m", "count": 0}, "count is 0: with an interval"),
    ({"interval": "soon", "count": 2}, "spec.metrics[0].interval 'soon': not a duration"),
    ({"count": "three"}, "count 'three' is not an integer"),
    ({"successCondition": "default(result, 0) < 5"}, "successCondition 'default(result, 0) < 5': unknown name "
                                                    "'default' at column 1"),
    ({"failureCondition": "result[0] >"}, "failureCondition 'result[0] >': unexpected end of expression at column 12"),
    ({"successCondition": "result[0] <= {{args.nope}}"}, "uses {{args.nope}}, which has no value"),
    ({"provider": {"prometheus": {"address": "http://p", "query": "up", "timeout": -1}}}, "timeout must be more"),
    ({"provider": {"prometheus": {"address": "http://p", "query": "up", "insecure": "yes"}}}, "insecure is not true"),
    ({"provider": {"prometheus": {"query": "up"}}}, "prometheus.address is missing"),
    ({"provider": {"prometheus": {"address": "http//127.0.0.1:19090", "query": "up"}}},
     "prometheus.address 'http//127.0.0.1:19090' is not an http:// or https:// URL"),
    ({"provider": {"prometheus": {"address": "not a url", "query": "up"}}}, "'not a url' is not an http://"),
    ({"provider": {"prometheus": {"address": "http://", "query": "up"}}}, "'http://' is not an http://"),
    ({"inconclusiveLimit": -1}, "must not be negative"),
])
def test_bad_values_are_refused_before_anything_is_measured(fields, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]").replace("{", r"\{")
                       .replace("}", r"\}").replace("(", r"\(").replace(")", r"\)")):
        metric(**fields)


def test_a_metric_name_given_twice_is_refused_as_argo_rollouts_refuses_it():
    doc = document()
    doc["spec"]["metrics"].append(dict(doc["spec"]["metrics"][0]))
    with pytest.raises(UsageError, match=r"spec.metrics\[1\].name 'm' is the name of spec.metrics\[0\] too"):
        analysis.check_template(doc, "t.yaml")


def test_a_negative_failure_limit_means_no_limit_as_in_argo_rollouts():
    m = metric(failureLimit=-1, interval="1s", count=3)
    failed = [Measurement("m", Phase.FAILED, "[1]")] * 3
    assert verdict.assess_metric(m, failed).phase is Phase.SUCCESSFUL


# -- one measurement ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("success, failure, result, expected", [
    (None, None, [1.0], Phase.SUCCESSFUL),
    ("result[0] < 1", None, [0.5], Phase.SUCCESSFUL),
    ("result[0] < 1", None, [2.0], Phase.FAILED),
    (None, "result[0] > 1", [2.0], Phase.FAILED),
    (None, "result[0] > 1", [0.5], Phase.SUCCESSFUL),
    ("result[0] < 1", "result[0] > 2", [1.5], Phase.INCONCLUSIVE),
    ("result[0] < 1", "result[0] > 2", [0.5], Phase.SUCCESSFUL),
    ("result[0] < 3", "result[0] > 2", [2.5], Phase.FAILED),  # failure wins when both hold
    ("result[0] < 1", None, [], Phase.ERROR),  # an empty vector: result[0] cannot be evaluated
    (None, "result[0] > 1", [], Phase.ERROR),
    # NaN as Argo Rollouts' docs ("NaN and Infinity") show it: comparisons are false
    ("result[0] < 1", None, [math.nan], Phase.FAILED),
    ("result[0] < 1", "result[0] >= 1", [math.nan], Phase.INCONCLUSIVE),
    ("isNaN(result[0]) || result[0] < 1", None, [math.nan], Phase.SUCCESSFUL),
])
def test_measurement_phase_follows_argo_rollouts_evaluate_result(success, failure, result, expected):
    doc = document(failureCondition=failure) if failure else document()
    doc["spec"]["metrics"][0]["successCondition"] = success
    if success is None:
        del doc["spec"]["metrics"][0]["successCondition"]
    (m,) = analysis.resolve_metrics(analysis.check_template(doc, "t.yaml"), {"threshold": "1"}, "t.yaml")
    assert verdict.measurement_phase(m, result)[0] is expected


# -- a metric's measurements --------------------------------------------------------------------------------------


def measured(*phases: Phase) -> list:
    return [Measurement("m", p, "[0.1]" if p is not Phase.ERROR else None) for p in phases]


S, F, INC, E = Phase.SUCCESSFUL, Phase.FAILED, Phase.INCONCLUSIVE, Phase.ERROR


@pytest.mark.parametrize("fields, phases, expected, reason", [
    ({"interval": "1s", "count": 3}, (S, S), Phase.RUNNING, ""),
    ({"interval": "1s", "count": 3}, (S, S, S), S, "count (3) reached"),
    ({"interval": "1s", "count": 3}, (S, F), F, "failed (1) > failureLimit (0)"),
    ({"interval": "1s", "count": 3, "failureLimit": 1}, (F, S, S), S, "count (3) reached"),
    ({"interval": "1s", "count": 3, "failureLimit": 1}, (F, F), F, "failed (2) > failureLimit (1)"),
    ({"interval": "1s", "count": 3}, (INC,), INC, "inconclusive (1) > inconclusiveLimit (0)"),
    ({"interval": "1s", "count": 3, "inconclusiveLimit": 1}, (INC, S, S), S, "count (3) reached"),
    ({"interval": "1s", "count": 2}, (E, E, E, E), Phase.RUNNING, ""),  # errors are retried, not counted
    ({"interval": "1s", "count": 2}, (E, E, E, E, E), E, "consecutiveErrors (5) > consecutiveErrorLimit (4)"),
    ({"interval": "1s", "count": 2, "consecutiveErrorLimit": 1}, (E, S, E, S), S, "count (2) reached"),
    ({"interval": "1s", "count": 3, "consecutiveErrorLimit": 0}, (S, E), E, "consecutiveErrors (1) > "
                                                                            "consecutiveErrorLimit (0)"),
])
def test_metric_phase_follows_argo_rollouts_assess_metric_status(fields, phases, expected, reason):
    assessment = verdict.assess_metric(metric(**fields), measured(*phases))
    assert (assessment.phase, assessment.reason) == (expected, reason)


def test_analysis_phase_is_the_worst_metric_and_ends_at_the_first_bad_one():
    a = verdict.PhaseAssessment
    assert verdict.analysis_phase([a(S, ""), a(S, "")]) is S
    assert verdict.analysis_phase([a(S, ""), a(Phase.RUNNING, "")]) is Phase.RUNNING
    assert verdict.analysis_phase([a(Phase.RUNNING, ""), a(INC, "")]) is INC
    assert verdict.analysis_phase([a(E, ""), a(INC, "")]) is E
    assert verdict.analysis_phase([a(E, ""), a(F, "")]) is F


@pytest.mark.parametrize("phase, fails, status", [
    (S, False, Status.SUCCEEDED), (F, False, Status.FAILED), (INC, False, Status.IN_PROGRESS),
    (E, False, Status.IN_PROGRESS), (INC, True, Status.FAILED), (E, True, Status.FAILED), (S, True, Status.SUCCEEDED),
])
def test_recorded_status(phase, fails, status):
    assert verdict.recorded_status(phase, fails) is status


def test_next_measurement_is_due_after_the_initial_delay_the_interval_or_argo_rollouts_error_retry():
    m = metric(interval="30s", count=3, initialDelay="5s")
    assert verdict.next_due(m, [], started=100.0, last_finished=100.0) == 105.0
    assert verdict.next_due(m, measured(S), started=100.0, last_finished=110.0) == 140.0
    assert verdict.next_due(m, measured(E), started=100.0, last_finished=110.0) == 120.0


# -- Prometheus's answers -----------------------------------------------------------------------------------------


def test_prometheus_answers_become_argo_rollouts_results():
    vector = b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.25"]},' \
             b'{"metric":{},"value":[1,"NaN"]}]}}'
    result, printed = parse_answer(200, vector)
    assert result[0] == 0.25 and math.isnan(result[1]) and printed == "[0.25,NaN]"
    assert parse_answer(200, b'{"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}}') == (
        math.inf, "+Inf")
    assert parse_answer(200, b'{"status":"success","data":{"resultType":"vector","result":[]}}') == ([], "[]")
    matrix = b'{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,"1"],[2,"2"]]}]}}'
    assert parse_answer(200, matrix) == ([1.0, 2.0], "[1,2]")


def test_values_are_shown_to_people_without_float_noise_and_kept_exact_in_data():
    """0.1 + 0.2 is 0.30000000000000004 as Prometheus (and Argo Rollouts) print it: a person reads 0.3, on the
    progress line and in history's cell; -o json keeps the value as it came back."""
    _, exact = parse_answer(200, b'{"status":"success","data":{"resultType":"vector","result":['
                                 b'{"metric":{},"value":[1,"0.30000000000000004"]},{"metric":{},"value":[1,"NaN"]},'
                                 b'{"metric":{},"value":[1,"1234567"]},{"metric":{},"value":[1,"-2.5e-07"]}]}}')
    assert exact == "[0.30000000000000004,NaN,1234567,-2.5e-07]"
    measured = Measurement("m", Phase.SUCCESSFUL, exact)
    assert measure.Measured(measured, 1, 3).line() == "m: [0.3,NaN,1234567,-2.5e-07] Successful (1 of 3)"
    assert verdict.Verification("Failed", "m", exact, None, None).cell() == "Failed m=[0.3,NaN,1234567,-2.5e-07]"
    assert render.verification_dict(dataclasses.replace(verdict_of(S), measurements=(measured,)))[
        "measurements"][0]["value"] == exact


@pytest.mark.parametrize("status, body, message", [
    (400, b'{"status":"error","errorType":"bad_data","error":"parse error at char 4"}',
     "HTTP 400: bad_data: parse error at char 4"),
    (502, b"<html>bad gateway</html>", "HTTP 502 with no JSON"),
    (200, b'{"status":"success","data":{"resultType":"string","result":[1,"x"]}}', "a string result"),
    (200, b'{"status":"success","data":{"resultType":"vector","result":[{"value":[1]}]}}', "malformed vector"),
])
def test_prometheus_failures_are_one_line(status, body, message):
    with pytest.raises(PrometheusError, match=message):
        parse_answer(status, body)


# -- the loop and the args ----------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def run_loop(metrics, phases_by_metric, inconclusive_fails=False):
    clock = Clock()
    lines: list = []
    queue = {name: list(phases) for name, phases in phases_by_metric.items()}

    def take(m):
        clock.now += 0.5  # the query takes half a second
        return Measurement(m.name, queue[m.name].pop(0), "[0.1]")

    result = measure.run_analysis(measure.Analysis("t", tuple(metrics)), inconclusive_fails,
                                  lambda progress: lines.append(progress.line()), clock=lambda: clock.now,
                                  sleep=clock.sleep, measure=take)
    return result, clock.slept, lines


def test_the_loop_measures_count_times_at_the_interval():
    m = metric(interval="10s", count=3, initialDelay="2s")
    result, slept, lines = run_loop([m], {"m": [S, S, S]})
    assert result.phase is S and result.status is Status.SUCCEEDED and result.message == ""
    assert slept == [2.0, 10.0, 10.0]
    assert lines == ["m: [0.1] Successful (1 of 3)", "m: [0.1] Successful (2 of 3)", "m: [0.1] Successful (3 of 3)"]


def test_the_loop_retries_an_error_after_ten_seconds_and_stops_at_the_first_failure():
    m = metric(interval="30s", count=5)
    result, slept, _ = run_loop([m], {"m": [S, E, F]})
    assert slept == [30.0, 10.0]
    assert result.phase is F and result.status is Status.FAILED
    assert result.message.startswith("metric m Failed: failed (1) > failureLimit (0); last value [0.1]")


def test_the_loop_runs_metrics_side_by_side_and_the_worst_decides():
    fast = metric(interval="1s", count=2)
    slow = dataclasses.replace(metric(interval="5s", count=2), name="slow")
    result, _, lines = run_loop([fast, slow], {"m": [S, S], "slow": [S, INC]})
    assert result.phase is INC and result.status is Status.IN_PROGRESS
    assert [line.split(":")[0] for line in lines] == ["m", "slow", "m", "slow"]
    assert run_loop([fast, slow], {"m": [S, S], "slow": [S, INC]}, inconclusive_fails=True)[0].status is Status.FAILED


def test_secret_values_never_reach_a_message():
    m = metric()
    prepared = measure.Analysis("t", (m,), secrets=("s3cret",))
    result = measure.run_analysis(prepared, False, lambda p: None, clock=lambda: 0.0, sleep=lambda s: None,
                                 measure=lambda m: Measurement("m", E, None, "401 for token s3cret"))
    assert "s3cret" not in result.message and "*****" in result.message
    assert all("s3cret" not in (x.message or "") for x in result.measurements)


def args_template(*args: dict) -> analysis.Template:
    doc = document()
    doc["spec"]["args"] = list(args)
    doc["spec"]["metrics"][0]["successCondition"] = "result[0] <= 1"
    return analysis.check_template(doc, "t.yaml")


BUILTINS = verdict.builtin_args("ns", "web", (3, "h3"), (2, "h2"))


def test_args_take_the_flag_then_the_declared_value_or_secret_then_the_built_in(fake, monkeypatch):
    fake.server.create(SECRETS, "ns", {"metadata": {"name": "prom"},
                                       "data": {"token": base64.b64encode(b"s3cret").decode()}})
    template = args_template({"name": "namespace"}, {"name": "pod-template-hash"}, {"name": "revision", "value": "9"},
                             {"name": "baseline-pod-template-hash"}, {"name": "workload"},
                             {"name": "token", "valueFrom": {"secretKeyRef": {"name": "prom", "key": "token"}}})
    resolved_with: dict = {}
    monkeypatch.setattr(analysis, "resolve_metrics", lambda t, values, source: resolved_with.update(values) or ())
    prepared = measure.prepare(fake, template, "t", (("workload", "api"),), BUILTINS, None)
    assert resolved_with == {"namespace": "ns", "pod-template-hash": "h3", "revision": "9",
                        "baseline-pod-template-hash": "h2", "workload": "api", "token": "s3cret"}
    assert prepared.secrets == ("s3cret",)


def test_args_that_cannot_be_given_a_value_are_refused(fake):
    with pytest.raises(UsageError, match="--arg thresold: t declares no arg 'thresold'"):
        measure.prepare(fake, args_template({"name": "threshold"}), "t", (("thresold", "1"),), BUILTINS, None)
    with pytest.raises(UsageError, match="arg 'threshold' has no value: pass --arg threshold=VALUE"):
        measure.prepare(fake, args_template({"name": "threshold"}), "t", (), BUILTINS, None)
    no_baseline = verdict.builtin_args("ns", "web", (1, "h1"), None)
    with pytest.raises(NoTargetError, match="baseline-revision is the rollback target's, and there is none: first"):
        measure.prepare(fake, args_template({"name": "baseline-revision"}), "t", (), no_baseline, "first deployment")
    with pytest.raises(Exception, match="prom"):
        measure.prepare(fake, args_template({"name": "token", "valueFrom": {"secretKeyRef": {"name": "prom",
                                                                                             "key": "k"}}}),
                       "t", (), BUILTINS, None)


# -- recording the verdict (fake API) -----------------------------------------------------------------------------


def verdict_of(phase: Phase) -> measure.Verdict:
    return measure.Verdict(phase, "" if phase is S else "metric m Failed: failed (1) > failureLimit (0)", (),
                          verdict.recorded_status(phase, False))


def live_revision(fake):
    kind = DeploymentKind()
    deployment, _ = add_deployment(fake, "web", ["img:1", "img:2"], live=1,
                                   annotations=[recorded("Succeeded"), recorded("InProgress")])
    live = next(r for r in kind.revisions(fake, deployment) if r.live)
    return kind, deployment, live


def request() -> RecordRequest:
    return RecordRequest(IdentityFlags())


def test_the_verdict_is_recorded_with_the_verification_annotations(fake):
    kind, deployment, live = live_revision(fake)
    record.record_verdict(fake, kind, deployment, live, request(), verdict_of(F))
    annotations = fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"]
    assert annotations["harness.io/status"] == "Failed" and annotations[verdict.VERIFICATION] == "Failed"
    assert annotations[verdict.VERIFICATION_MESSAGE].startswith("metric m Failed")
    assert annotations["harness.io/workflow-id"] == "wf1"  # the identity kept from the InProgress record


def test_a_revision_recorded_failed_meanwhile_keeps_failed(fake):
    kind, deployment, live = live_revision(fake)
    fake.server.patch(REPLICASETS, "ns", "web-h2", {"metadata": {"annotations": {"harness.io/status": "Failed"}}})
    with pytest.raises(RollbackError, match="was recorded Failed during the analysis"):
        record.record_verdict(fake, kind, deployment, live, request(), verdict_of(S))
    annotations = fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"]
    assert annotations["harness.io/status"] == "Failed" and verdict.VERIFICATION not in annotations


@pytest.mark.parametrize("phase", [Phase.INCONCLUSIVE, Phase.ERROR])
@pytest.mark.parametrize("outcome", ["Succeeded", "Failed"])
def test_an_undecided_verdict_keeps_a_decided_outcome(fake, phase, outcome):
    kind, deployment, live = live_revision(fake)
    fake.server.patch(REPLICASETS, "ns", "web-h2", {"metadata": {"annotations": {"harness.io/status": outcome}}})
    live = next(r for r in kind.revisions(fake, deployment) if r.live)
    written = record.record_verdict(fake, kind, deployment, live, request(), verdict_of(phase))
    annotations = fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"]
    assert annotations["harness.io/status"] == outcome == written.annotations["harness.io/status"]
    assert annotations[verdict.VERIFICATION] == phase.value


def test_only_an_undecided_verdict_on_a_decided_outcome_keeps_it():
    for recorded_status in Status:
        assert verdict.replaces(Status.SUCCEEDED, recorded_status) and verdict.replaces(Status.FAILED, recorded_status)
    assert verdict.replaces(Status.IN_PROGRESS, Status.IN_PROGRESS)
    assert not verdict.replaces(Status.IN_PROGRESS, Status.SUCCEEDED)
    assert not verdict.replaces(Status.IN_PROGRESS, Status.FAILED)


def test_a_revision_pruned_meanwhile_is_not_recorded(fake):
    kind, deployment, live = live_revision(fake)
    fake.server.delete(REPLICASETS, "ns", "web-h2")
    with pytest.raises(RollbackError, match="pruned during the analysis"):
        record.record_verdict(fake, kind, deployment, live, request(), verdict_of(S))


def test_a_failed_verdict_names_its_metric_and_value_and_history_reads_them_back(fake):
    kind, deployment, live = live_revision(fake)
    failed = dataclasses.replace(verdict_of(F), metric="m", value="[0.31]")
    record.record_verdict(fake, kind, deployment, live, request(), failed)
    annotations = fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"]
    found = verdict.recorded_verification(annotations)
    assert found is not None and (found.phase, found.metric, found.value) == ("Failed", "m", "[0.31]")
    assert found.cell() == "Failed m=[0.31]" and found.message is not None and found.verified_at
    # a later Successful verdict (after the revision was recorded InProgress again) takes the metric and value away
    fake.server.patch(REPLICASETS, "ns", "web-h2", {"metadata": {"annotations": {"harness.io/status": "InProgress"}}})
    record.record_verdict(fake, kind, deployment, live, request(), verdict_of(S))
    annotations = fake.stored(REPLICASETS, "web-h2")["metadata"]["annotations"]
    assert verdict.recorded_verification(annotations) == verdict.Verification(
        "Successful", None, None, None, annotations[verdict.VERIFIED_AT])
    assert verdict.recorded_verification({}) is None
    # an Error with no value (Prometheus unreachable) still names its metric
    assert verdict.Verification("Error", "m", None, "x", None).cell() == "Error m"


def test_verify_without_identity_flags_on_an_unrecorded_revision_says_what_is_missing(fake, tmp_path):
    """As record: earlier revisions are recorded, the live one is not; nothing is measured, and the refusal says
    that the live revision carries no record and which flags to pass (or --no-record)."""
    add_deployment(fake, "web", ["img:1", "img:2"], annotations=[recorded("Succeeded"), {}])
    spec = tmp_path / "template.yaml"
    spec.write_text(json.dumps({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
                                "metadata": {"name": "t"}, "spec": {"metrics": [
                                    {"name": "m", "successCondition": "result[0] < 1",
                                     "provider": {"prometheus": {"address": "http://127.0.0.1:9", "query": "up"}}}]}}))
    with pytest.raises(UsageError) as refused:
        verify.run(fake, DeploymentKind(), "web", VerifyRequest(IdentityFlags(), str(spec)), lambda measured: None)
    assert refused.value.message == (
        "cannot record deployment/web revision 2: it carries no record of its own and --workflow-id, --service-id, "
        "--infra-id were not passed (the identity is never taken from another revision's record: it may be another "
        "pipeline's); pass --workflow-id, --service-id, --infra-id, or pass --no-record")
