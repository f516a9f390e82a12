"""verify (issue 31): a metric analysis of the live revision against a real Prometheus, recorded on the revision.

Each test deploys `web` twice (revision 1 recorded Succeeded, revision 2 live and InProgress), has the exporter serve
each revision's traffic under its pod-template-hash, waits until Prometheus itself answers the rate the test set,
then runs `kubectl harness-rollback verify` as a user does.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from kubectl_rollback import analysis
from tests import argo_rollouts, manifests, scenarios
from tests.prometheus_fixture import ForwardProxy, exporter, prometheus  # noqa: F401 (fixtures)
from tests.scenarios import IDENTITY, STATUS

VERIFICATION = "harness.io/verification"
VERIFICATION_MESSAGE = "harness.io/verification-message"


def ratio_query(hash_arg: str) -> str:
    selector = f'{{pod_template_hash="{{{{args.{hash_arg}}}}}"}}'
    return f"sum(rate(http_errors_total{selector}[5s])) / sum(rate(http_requests_total{selector}[5s]))"


def filled(query: str, **args: str) -> str:
    for name, value in args.items():
        query = query.replace(f"{{{{args.{name.replace('_', '-')}}}}}", value)
    return query


def template(query: str, condition: str, count: int = 3, interval: str = "1s", args=("pod-template-hash",),
             kind: str = "AnalysisTemplate", **metric) -> dict:
    """An error-ratio template; interval "" leaves it out (one measurement)."""
    if interval:
        metric["interval"] = interval
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "error-ratio"},
        "spec": {
            "args": [{"name": "address"}] + [{"name": a} for a in args],
            "metrics": [dict({
                "name": "error-ratio", "count": count, "successCondition": condition,
                "provider": {"prometheus": {"address": "{{args.address}}", "query": query}},
            }, **metric)],
        },
    }


def write(tmp_path: Path, document) -> str:
    path = tmp_path / "template.yaml"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return str(path)


def two_revisions(ns) -> tuple:
    """web at revision 1 (recorded Succeeded) and revision 2 (rolled out, recorded InProgress): their
    pod-template-hashes."""
    scenarios.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1"), "Succeeded",
                                *IDENTITY)
    ns.apply(manifests.deployment("web", "example.test/web:2"))
    ns.rollout_status("deployment/web")
    ns.plugin("record", "deployment/web", "--status", "InProgress", *IDENTITY, check=True)
    by_image = scenarios.rs_by_image(ns, "web")
    assert by_image["example.test/web:2"]["metadata"]["annotations"][STATUS] == "InProgress"
    return tuple(by_image[f"example.test/web:{n}"]["metadata"]["labels"]["pod-template-hash"] for n in (1, 2))


def annotations_of(ns, pod_template_hash: str) -> dict:
    sets = ns.items("rs", "-l", f"pod-template-hash={pod_template_hash}")
    assert len(sets) == 1
    return sets[0]["metadata"].get("annotations") or {}


def wait_for_ratio(prometheus, promql: str, wanted: float) -> float:  # noqa: F811
    return prometheus.wait_for_value(promql, lambda v: abs(v - wanted) < 0.005, f"{promql} = {wanted}")


def new_revision_erring(ns, exporter, prometheus, error_ratio: float) -> str:  # noqa: F811
    """two_revisions, the new one serving this error ratio, and Prometheus already answering it: its hash."""
    _, new = two_revisions(ns)
    exporter.serve(new, 50, error_ratio)
    wait_for_ratio(prometheus, filled(ratio_query("pod-template-hash"), pod_template_hash=new), error_ratio)
    return new


def test_under_threshold_is_verified_and_recorded_succeeded(ns, tmp_path, exporter, prometheus):  # noqa: F811
    new = new_revision_erring(ns, exporter, prometheus, 0.01)
    spec = write(tmp_path, template(ratio_query("pod-template-hash"), "result[0] <= 0.05"))
    proc = ns.plugin("verify", "deployment/web", "--verify", spec, "--arg", f"address={prometheus.url}", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["phase"] == "Successful" and out["recorded"] == "Succeeded" and out["revision"] == 2
    assert [m["phase"] for m in out["measurements"]] == ["Successful"] * 3
    assert all(abs(json.loads(m["value"])[0] - 0.01) < 0.005 for m in out["measurements"])
    progress = [line for line in proc.stderr.splitlines() if line.startswith("error-ratio: ")]
    assert [line.rsplit("(", 1)[1] for line in progress] == ["1 of 3)", "2 of 3)", "3 of 3)"], proc.stderr
    annotations = annotations_of(ns, new)
    assert annotations[STATUS] == "Succeeded" and annotations[VERIFICATION] == "Successful"


def test_above_threshold_is_recorded_failed_with_the_value(ns, tmp_path, exporter, prometheus):  # noqa: F811
    new = new_revision_erring(ns, exporter, prometheus, 0.3)
    spec = write(tmp_path, template(ratio_query("pod-template-hash"), "result[0] <= 0.05"))
    proc = ns.plugin("verify", "deployment/web", "--verify", spec, "--arg", f"address={prometheus.url}", "-o", "json")
    assert proc.returncode == 4, proc.stderr
    out = json.loads(proc.stdout)
    # failureLimit 0 (Argo Rollouts' default): the first Failed measurement ends the analysis.
    assert out["phase"] == "Failed" and [m["phase"] for m in out["measurements"]] == ["Failed"]
    value = out["measurements"][0]["value"]
    assert abs(json.loads(value)[0] - 0.3) < 0.005
    annotations = annotations_of(ns, new)
    assert annotations[STATUS] == "Failed" and annotations[VERIFICATION] == "Failed"
    message = annotations[VERIFICATION_MESSAGE]
    assert "error-ratio" in message and value in message and "'result[0] <= 0.05' is false" in message, message
    assert "failed (1) > failureLimit (0)" in message
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")


def test_prometheus_stopped_halfway_is_error_and_stays_in_progress(ns, tmp_path, exporter, prometheus):  # noqa: F811
    new = new_revision_erring(ns, exporter, prometheus, 0.01)
    spec = write(tmp_path, template(ratio_query("pod-template-hash"), "result[0] <= 0.05", count=3, interval="2s",
                                    consecutiveErrorLimit=1))
    proc = scenarios.start_plugin(ns, "verify", "deployment/web", "--verify", spec, "--arg",
                                  f"address={prometheus.url}", "-o", "json")
    first = proc.stderr.readline()
    assert first.startswith("error-ratio: ") and "Successful (1 of 3)" in first, first
    prometheus.stop()
    done = scenarios.finish(proc)
    assert done.returncode == 7, done.stderr
    out = json.loads(done.stdout)
    assert out["phase"] == "Error" and out["recorded"] == "InProgress"
    assert [m["phase"] for m in out["measurements"]] == ["Successful", "Error", "Error"]
    annotations = annotations_of(ns, new)
    assert annotations[STATUS] == "InProgress" and annotations[VERIFICATION] == "Error"
    assert "consecutiveErrors (2) > consecutiveErrorLimit (1)" in annotations[VERIFICATION_MESSAGE]
    assert "cannot reach Prometheus" in annotations[VERIFICATION_MESSAGE]


def test_baseline_query_decides_both_ways(ns, tmp_path, exporter, prometheus):  # noqa: F811
    old, new = two_revisions(ns)
    difference = f"({ratio_query('pod-template-hash')}) - ({ratio_query('baseline-pod-template-hash')})"
    spec = write(tmp_path, template(difference, "result[0] <= 0.02", count=1, interval="",
                                    args=("pod-template-hash", "baseline-pod-template-hash")))
    before = annotations_of(ns, new)
    verify = ("verify", "deployment/web", "--verify", spec, "--arg", f"address={prometheus.url}", "--no-record",
              "-o", "json")
    promql = filled(difference, pod_template_hash=new, baseline_pod_template_hash=old)

    exporter.serve(old, 50, 0.05)
    exporter.serve(new, 50, 0.06)  # worse than 0.05 in absolute terms, but within 0.02 of the last good revision
    wait_for_ratio(prometheus, promql, 0.01)
    proc = ns.plugin(*verify)
    assert proc.returncode == 0 and json.loads(proc.stdout)["phase"] == "Successful", proc.stderr

    exporter.serve(old, 50, 0.01)  # the last good revision did much better: 0.06 is now a regression
    wait_for_ratio(prometheus, promql, 0.05)
    proc = ns.plugin(*verify)
    assert proc.returncode == 4 and json.loads(proc.stdout)["phase"] == "Failed", proc.stderr
    assert annotations_of(ns, new) == before  # --no-record


BAD_TEMPLATES = [
    ("unsupported provider", template("up", "result[0] > 0") | {"spec": {"metrics": [{
        "name": "m", "provider": {"web": {"url": "http://example.test"}}}]}},
     "spec.metrics[0].provider.web is not supported"),
    ("unsupported field", template("up", "result[0] > 0", consecutiveSuccessLimit=2),
     "spec.metrics[0].consecutiveSuccessLimit is not supported"),
    ("expression outside the subset", template("up", "default(result, 0) < 5"),
     "spec.metrics[0].successCondition 'default(result, 0) < 5': unknown name 'default'"),
    ("malformed", "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nspec:\n  metrics: {name: m}\n",
     "spec.metrics is not a list"),
    ("a metric name twice (Argo Rollouts refuses it)", template("up", "result[0] > 0") | {"spec": {
        "args": [{"name": "address"}], "metrics": [template("up", "result[0] > 0")["spec"]["metrics"][0]] * 2}},
     "spec.metrics[1].name 'error-ratio' is the name of spec.metrics[0] too"),
    ("count 0", template("up", "result[0] > 0", count=0), "spec.metrics[0].count is 0: with an interval, give"),
]


def test_bad_templates_are_refused_before_anything_is_written(ns, tmp_path):
    _, new = two_revisions(ns)
    before = annotations_of(ns, new)
    for what, document, expected in BAD_TEMPLATES:
        proc = ns.plugin("verify", "deployment/web", "--verify", write(tmp_path, document), "--arg",
                         "address=http://127.0.0.1:9")
        assert proc.returncode == 2, (what, proc.stderr)
        assert proc.stderr.count("\n") == 1 and expected in proc.stderr, (what, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert annotations_of(ns, new) == before


def test_an_address_that_is_not_a_url_is_refused_before_anything_is_measured(ns, tmp_path):
    """The address is known once the args are filled: a typo is a bad template (exit 2), not five measurement
    Errors that end Inconclusive (or Failed, with --on-inconclusive=fail) on a healthy revision."""
    _, new = two_revisions(ns)
    before = annotations_of(ns, new)
    spec = write(tmp_path, template("up", "result[0] > 0", count=1, interval=""))
    for address in ("http//127.0.0.1:19090", "not a url", "http://"):
        proc = ns.plugin("verify", "deployment/web", "--verify", spec, "--arg", f"address={address}",
                         "--on-inconclusive=fail")
        assert proc.returncode == 2, (address, proc.stderr)
        assert proc.stderr.count("\n") == 1, (address, proc.stderr)
        assert f"spec.metrics[0].provider.prometheus.address {address!r} is not an http:// or https:// URL" \
            in proc.stderr, (address, proc.stderr)
    assert annotations_of(ns, new) == before


def test_an_undecided_verdict_keeps_the_outcome_recorded(ns, tmp_path):
    """Error (Prometheus unreachable) on a live revision recorded Succeeded: made InProgress again, it would make
    revision 1 a rollback target where there was none. The status stays; the verification annotations say why."""
    _, new = two_revisions(ns)
    ns.plugin("record", "deployment/web", "--status", "Succeeded", check=True)
    spec = write(tmp_path, template("up", "result[0] > 0", count=1, interval="", consecutiveErrorLimit=0))
    proc = ns.plugin("verify", "deployment/web", "--verify", spec, "--arg", "address=http://127.0.0.1:9", "-o",
                     "json")
    assert proc.returncode == 7, proc.stderr
    out = json.loads(proc.stdout)
    assert out["phase"] == "Error" and out["recorded"] == "Succeeded", out
    annotations = annotations_of(ns, new)
    assert annotations[STATUS] == "Succeeded" and annotations[VERIFICATION] == "Error", annotations
    dry_run = ns.plugin("rollback", "deployment/web", "--dry-run=client", *IDENTITY)
    assert dry_run.returncode == 0 and "nothing to do (it is the last good revision" in dry_run.stdout, dry_run


def test_a_failed_verdict_on_the_revision_a_rollback_restored_is_refused_with_a_command_that_works(
        ns, tmp_path, prometheus):  # noqa: F811
    """verify has no --force: the refusal prints the whole `record ... --force` command, and that command works."""
    two_revisions(ns)
    ns.plugin("rollback", "deployment/web", check=True)  # revision 1 restored (as revision 3), revision 2 Failed
    ns.rollout_status("deployment/web")
    restored = scenarios.rs_by_image(ns, "web")["example.test/web:1"]
    spec = write(tmp_path, template("vector(1)", "result[0] < 0", count=1, interval="", args=()))
    proc = ns.plugin("verify", "deployment/web", "--verify", spec, "--arg", f"address={prometheus.url}")
    assert proc.returncode == 1 and "is live because a rollback restored it" in proc.stderr, proc.stderr
    assert restored["metadata"]["annotations"][STATUS] == "Succeeded"
    hint = re.search(r"If this one failed too: (kubectl harness-rollback record .*)$", proc.stderr.strip())
    assert hint is not None, proc.stderr
    # -o json: the analysis that ran is in the document, with the refusal as its error
    proc = ns.plugin("verify", "deployment/web", "--verify", spec, "--arg", f"address={prometheus.url}", "-o", "json")
    out = json.loads(proc.stdout)
    assert proc.returncode == 1 and out["revision"] == 3 and out["phase"] == "Failed" and out["recorded"] is None, out
    assert [(m["phase"], m["value"]) for m in out["measurements"]] == [("Failed", "[1]")], out
    assert "is live because a rollback restored it" in out["error"]["message"], out
    copied = ns.cluster.run(*shlex.split(hint.group(1))[1:])  # as typed in a shell, without -n added
    assert copied.returncode == 0, copied.stderr
    assert scenarios.rs_by_image(ns, "web")["example.test/web:1"]["metadata"]["annotations"][STATUS] == "Failed"


@pytest.fixture
def argo_crds(cluster):
    """Argo Rollouts' AnalysisTemplate and ClusterAnalysisTemplate CRDs, as it publishes them."""
    for crd in ("analysis-template-crd.yaml", "cluster-analysis-template-crd.yaml"):
        cluster.run("apply", "-f", str(argo_rollouts.crd(crd)))

    def established(name: str) -> bool:
        # Not `kubectl wait`: a CRD created a moment ago has no status.conditions yet, and kubectl fails on that.
        conditions = json.loads(cluster.run("get", "crd", name, "-o", "json").stdout).get("status", {})
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions.get("conditions") or [])

    for name in ("analysistemplates.argoproj.io", "clusteranalysistemplates.argoproj.io"):
        scenarios.wait_until(functools.partial(established, name), f"CRD {name} established")


def test_templates_from_the_cluster(ns, argo_crds, exporter, prometheus):  # noqa: F811
    new = new_revision_erring(ns, exporter, prometheus, 0.01)
    ns.apply(json.dumps(template(ratio_query("pod-template-hash"), "result[0] <= 0.05", count=1, interval="")))
    cluster_wide = template(ratio_query("pod-template-hash"), "result[0] <= 0.001", count=1, interval="",
                            kind="ClusterAnalysisTemplate")
    cluster_wide["metadata"]["name"] = f"strict-{ns.name}"
    ns.apply(json.dumps(cluster_wide))
    try:
        proc = ns.plugin("verify", "deployment/web", "--verify", f"clusteranalysistemplate/strict-{ns.name}",
                         "--arg", f"address={prometheus.url}", "--no-record", "-o", "json")
        assert proc.returncode == 4 and json.loads(proc.stdout)["phase"] == "Failed", proc.stderr
        proc = ns.plugin("verify", "deployment/web", "--verify", "analysistemplate/error-ratio", "--arg",
                         f"address={prometheus.url}", "-o", "json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["analysis"] == "analysistemplate/error-ratio"
        assert annotations_of(ns, new)[STATUS] == "Succeeded"
    finally:
        ns.cluster.run("delete", "clusteranalysistemplate", f"strict-{ns.name}", check=False)


def test_a_missing_cluster_template_is_named_without_a_namespace(ns, argo_crds):
    """A ClusterAnalysisTemplate lives in no namespace: the error names none (issue 31, left over)."""
    proc = ns.plugin("verify", "deployment/web", "--verify", f"clusteranalysistemplate/absent-{ns.name}", "--arg",
                     "address=http://127.0.0.1:9")
    assert proc.returncode == 1, proc.stderr
    [line] = proc.stderr.splitlines()
    assert f'clusteranalysistemplates.argoproj.io "absent-{ns.name}"' in line and "namespace" not in line, line


def test_argo_rollouts_documented_template_is_read_unchanged():
    documented = argo_rollouts.documented_single_measurement_template("success-rate")
    template = analysis.check_template(yaml.safe_load(documented), "success-rate.yaml")
    assert [a.name for a in template.args] == ["service-name", "prometheus-port"]
    assert template.args[1].value == "9090"  # YAML reads `value: 9090` as a number; Argo takes it as the string
    assert analysis.references(template) == ("prometheus-port", "service-name")
    (m,) = analysis.resolve_metrics(template, {"service-name": "web", "prometheus-port": "9090"}, "f")
    assert m.prometheus.address == "http://prometheus.example.com:9090"
    assert 'destination_service=~"web"' in m.prometheus.query
    assert (m.count, m.interval, m.failure_limit, m.inconclusive_limit, m.consecutive_error_limit) == (1, 0.0, 0, 0, 4)
    assert m.prometheus.timeout == 30.0


def test_argo_rollouts_documented_template_unchanged(ns, tmp_path, exporter, prometheus):  # noqa: F811
    """docs/features/analysis.md's success-rate template, as published: its address is prometheus.example.com, which
    an HTTP proxy (HTTP_PROXY, honoured as Argo Rollouts honours it) sends to the real server."""
    documented = tmp_path / "success-rate.yaml"
    documented.write_text(argo_rollouts.documented_single_measurement_template("success-rate"), encoding="utf-8")
    _, new = two_revisions(ns)
    exporter.serve(new, 50, 0.01, service="web")
    success_rate = ('sum(irate(istio_requests_total{reporter="source",destination_service=~"web",'
                    'response_code!~"5.*"}[5m])) / sum(irate(istio_requests_total{reporter="source",'
                    'destination_service=~"web"}[5m]))')
    wait_for_ratio(prometheus, success_rate, 0.99)
    proxy = ForwardProxy(prometheus)
    try:
        env = dict(ns.cluster.env, HTTP_PROXY=proxy.url)
        proc = subprocess.run(
            [ns.cluster.kubectl_bin, "harness-rollback", "verify", "deployment/web", "-n", ns.name, "--verify",
             str(documented), "--arg", "service-name=web", "--arg",
             f"prometheus-port={prometheus.port}", "-o", "json"],
            env=env, capture_output=True, text=True, timeout=120,
        )
    finally:
        proxy.close()
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [m["phase"] for m in out["measurements"]] == ["Successful"]
    assert annotations_of(ns, new)[STATUS] == "Succeeded"


def test_recorded_failed_during_the_analysis_stays_failed(ns, tmp_path, exporter, prometheus):  # noqa: F811
    new = new_revision_erring(ns, exporter, prometheus, 0.01)
    spec = write(tmp_path, template(ratio_query("pod-template-hash"), "result[0] <= 0.05", count=3, interval="2s"))
    proc = scenarios.start_plugin(ns, "verify", "deployment/web", "--verify", spec, "--arg",
                                  f"address={prometheus.url}")
    first = proc.stderr.readline()
    assert "Successful (1 of 3)" in first, first
    ns.plugin("record", "deployment/web", "--status", "Failed", check=True)  # the on-call saw it fail meanwhile
    done = scenarios.finish(proc)
    assert done.returncode == 1, done.stderr
    assert "was recorded Failed during the analysis; the Successful verdict is not recorded" in done.stderr
    annotations = annotations_of(ns, new)
    assert annotations[STATUS] == "Failed" and VERIFICATION not in annotations


def test_inconclusive_stays_in_progress_unless_on_inconclusive_fail(ns, tmp_path, exporter, prometheus):  # noqa: F811
    new = new_revision_erring(ns, exporter, prometheus, 0.05)  # neither under 0.01 nor over 0.1: Inconclusive
    spec = write(tmp_path, template(ratio_query("pod-template-hash"), "result[0] <= 0.01", count=2,
                                    failureCondition="result[0] >= 0.1", inconclusiveLimit=1))
    verify = ("verify", "deployment/web", "--verify", spec, "--arg", f"address={prometheus.url}", "-o", "json")
    proc = ns.plugin(*verify)
    assert proc.returncode == 7, proc.stderr
    out = json.loads(proc.stdout)
    assert [m["phase"] for m in out["measurements"]] == ["Inconclusive", "Inconclusive"]  # the limit allows one
    assert out["phase"] == "Inconclusive" and out["recorded"] == "InProgress"
    assert "inconclusive (2) > inconclusiveLimit (1)" in out["message"]
    assert annotations_of(ns, new)[STATUS] == "InProgress"

    proc = ns.plugin(*verify, "--on-inconclusive=fail")
    assert proc.returncode == 4, proc.stderr
    annotations = annotations_of(ns, new)
    assert annotations[STATUS] == "Failed" and annotations[VERIFICATION] == "Inconclusive"
