"""record --follow --verify (issue 31): the rollout is followed, then the new revision is measured against a real
Prometheus, and the analysis decides the record; --rollback-on-failure rolls a Failed analysis back.

Each test records `web` revision 1 Succeeded, applies revision 2, has the exporter serve revision 2's traffic under
its pod-template-hash and waits until Prometheus itself answers the ratio the test set; then it runs
`kubectl harness-rollback record --follow --verify` as a pipeline does.
"""

from __future__ import annotations

import json
import signal

from kubectl_rollback.verdict import shown
from tests import manifests, scenarios
from tests.prometheus_fixture import exporter, prometheus  # noqa: F401 (fixtures)
from tests.scenarios import IDENTITY, STATUS
from tests.test_verify import (
    VERIFICATION,
    VERIFICATION_MESSAGE,
    annotations_of,
    filled,
    ratio_query,
    template,
    wait_for_ratio,
    write,
)


def applied_second_revision(ns) -> str:
    """web revision 1 rolled out and recorded Succeeded, revision 2 applied (not recorded): revision 2's hash."""
    scenarios.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1"), "Succeeded",
                                *IDENTITY)
    ns.apply(manifests.deployment("web", "example.test/web:2"))
    second = scenarios.wait_until(lambda: scenarios.rs_by_image(ns, "web").get("example.test/web:2"),
                                  "revision 2's ReplicaSet")
    return second["metadata"]["labels"]["pod-template-hash"]


def erring_second_revision(ns, exporter, prometheus, error_ratio: float) -> str:  # noqa: F811
    new = applied_second_revision(ns)
    exporter.serve(new, 50, error_ratio)
    wait_for_ratio(prometheus, filled(ratio_query("pod-template-hash"), pod_template_hash=new), error_ratio)
    return new


def record_verify(tmp_path, prometheus, *extra: str, **metric) -> tuple:  # noqa: F811
    spec = write(tmp_path, template(ratio_query("pod-template-hash"), "result[0] <= 0.05", **metric))
    return ("record", "deployment/web", "--follow", "--timeout", "2m", "--verify", spec, "--arg",
            f"address={prometheus.url}", *IDENTITY, *extra)


def progress_lines(stderr: str) -> list:
    return [line for line in stderr.splitlines() if line.startswith("error-ratio: ")]


def test_follow_verify_records_succeeded_only_after_a_successful_analysis(ns, tmp_path, exporter, prometheus):  # noqa: F811,E501
    new = erring_second_revision(ns, exporter, prometheus, 0.01)
    proc = ns.plugin(*record_verify(tmp_path, prometheus, "-o", "json"))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["revision"] == 2 and out["status"] == "Succeeded"
    assert out["verification"]["phase"] == "Successful"
    assert [m["phase"] for m in out["verification"]["measurements"]] == ["Successful"] * 3
    assert all(abs(json.loads(m["value"])[0] - 0.01) < 0.005 for m in out["verification"]["measurements"])
    assert [line.rsplit("(", 1)[1] for line in progress_lines(proc.stderr)] == ["1 of 3)", "2 of 3)", "3 of 3)"]
    annotations = annotations_of(ns, new)
    assert annotations[STATUS] == "Succeeded" and annotations[VERIFICATION] == "Successful"


def test_follow_verify_failed_is_recorded_failed_and_rolled_back(ns, tmp_path, exporter, prometheus):  # noqa: F811
    new = erring_second_revision(ns, exporter, prometheus, 0.3)
    proc = ns.plugin(*record_verify(tmp_path, prometheus, "--rollback-on-failure", "-o", "json"))
    assert proc.returncode == 4, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "Failed" and out["verification"]["phase"] == "Failed"
    (measured,) = out["verification"]["measurements"]
    assert abs(json.loads(measured["value"])[0] - 0.3) < 0.005
    annotations = annotations_of(ns, new)
    assert annotations[STATUS] == "Failed" and annotations[VERIFICATION] == "Failed"
    assert measured["value"] in annotations[VERIFICATION_MESSAGE]
    assert "'result[0] <= 0.05' is false" in annotations[VERIFICATION_MESSAGE]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "analysis" in last and "rolled back from revision 2" in last, proc.stderr
    assert scenarios.live_image(ns) == "example.test/web:1"
    # history shows each revision's verification: phase, failing metric and value
    revisions = {r["name"]: r for r in ns.plugin_json("history", "deployment/web")["revisions"]}
    failed = next(r for r in revisions.values() if new in r["name"])
    assert failed["verification"]["phase"] == "Failed" and failed["verification"]["metric"] == "error-ratio"
    assert failed["verification"]["value"] == measured["value"]
    assert [r["verification"] for r in revisions.values() if r is not failed] == [None]
    wide = ns.plugin("history", "deployment/web", "-o", "wide", check=True).stdout
    row = next(line for line in wide.splitlines() if new in line)
    assert f"Failed error-ratio={shown(measured['value'])}" in row, wide  # 15 digits: 0.30000000000000004 is 0.3


def test_follow_verify_error_stays_in_progress_and_rolls_nothing_back(ns, tmp_path, exporter, prometheus):  # noqa: F811,E501
    new = erring_second_revision(ns, exporter, prometheus, 0.01)
    proc = scenarios.start_plugin(ns, *record_verify(tmp_path, prometheus, "--rollback-on-failure", "-o", "json",
                                                     interval="2s", consecutiveErrorLimit=1))
    first = proc.stderr.readline()
    while not first.startswith("error-ratio: "):  # the rollout's progress lines come first
        first = proc.stderr.readline()
        assert first, "record ended before its first measurement"
    assert "Successful (1 of 3)" in first, first
    prometheus.stop()
    done = scenarios.finish(proc)
    assert done.returncode == 7, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "InProgress" and out["verification"]["phase"] == "Error"
    assert [m["phase"] for m in out["verification"]["measurements"]] == ["Successful", "Error", "Error"]
    annotations = annotations_of(ns, new)
    assert annotations[STATUS] == "InProgress" and annotations[VERIFICATION] == "Error"
    assert "cannot reach Prometheus" in annotations[VERIFICATION_MESSAGE]
    assert "nothing rolled back" in done.stderr.strip().splitlines()[-1]
    assert scenarios.live_image(ns) == "example.test/web:2"


def test_ctrl_c_during_the_analysis_says_what_is_left_recorded(ns, tmp_path, exporter, prometheus):  # noqa: F811
    new = erring_second_revision(ns, exporter, prometheus, 0.01)
    proc = scenarios.start_plugin(ns, *record_verify(tmp_path, prometheus, count=30))
    line = proc.stderr.readline()
    while not line.startswith("error-ratio: "):
        line = proc.stderr.readline()
        assert line, "record ended before its first measurement"
    proc.send_signal(signal.SIGINT)  # kubectl execs the plugin: the signal reaches it as Ctrl-C does
    done = scenarios.finish(proc)
    assert done.returncode == 130, done.stderr
    assert "left recorded InProgress" in done.stderr and "analysis" in done.stderr, done.stderr
    assert "--status Failed" in done.stderr and "Traceback" not in done.stderr
    annotations = annotations_of(ns, new)
    assert annotations[STATUS] == "InProgress" and VERIFICATION not in annotations


def test_a_bad_template_or_flag_is_refused_before_anything_is_recorded(ns, tmp_path):
    new = applied_second_revision(ns)
    spec = write(tmp_path, template("up", "default(result, 0) < 5"))
    good = str(tmp_path / "good.yaml")
    (tmp_path / "good.yaml").write_text(json.dumps(template("up", "result[0] > 0", count=1, interval="")))
    refusals = [
        (("--follow", "--verify", spec, "--arg", "address=http://127.0.0.1:9"), "unknown name 'default'"),
        (("--follow", "--verify", str(tmp_path / "missing.yaml")), "cannot read it"),
        (("--status", "Succeeded", "--verify", spec), "pass --follow with it"),
        (("--follow", "--arg", "address=x"), "pass --verify with it"),
        (("--follow", "--verify", good, "--arg", "address=http//127.0.0.1:19090", "--on-inconclusive=fail",
          "--rollback-on-failure"), "address 'http//127.0.0.1:19090' is not an http:// or https:// URL"),
    ]
    for flags, expected in refusals:
        proc = ns.plugin("record", "deployment/web", *flags, *IDENTITY)
        assert proc.returncode == 2, (flags, proc.stderr)
        assert proc.stderr.count("\n") == 1 and expected in proc.stderr, (flags, proc.stderr)
    assert STATUS not in annotations_of(ns, new)
