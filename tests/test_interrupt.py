"""Ctrl-C after a rollback has written: the command says what it changed, that the rollout goes on, and how to
follow it, as kubectl's own users would (exit 130)."""

from __future__ import annotations

import signal
import subprocess
import threading

import pytest

from tests import contract, manifests
from tests import scenarios as sc


def started_waiting(proc: subprocess.Popen) -> str:
    """stderr up to the line that says the rollback was written and the wait began."""
    seen = ""
    while "waiting for the rollout" not in seen:
        line = proc.stderr.readline()
        assert line, f"the plugin ended before waiting: {seen}"
        seen += line
    return seen


def interrupt(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    """Ctrl-C, then everything the plugin says until it exits (read through the same buffered pipes as before)."""
    proc.send_signal(signal.SIGINT)  # kubectl execs the plugin: the signal reaches it as Ctrl-C does
    timer = threading.Timer(60, proc.kill)  # a plugin that hangs after Ctrl-C fails the test, not the run
    timer.start()
    try:
        err, out = proc.stderr.read(), proc.stdout.read()
        return subprocess.CompletedProcess(proc.args, proc.wait(), out, err)
    finally:
        timer.cancel()


def test_ctrl_c_during_rollback_wait_says_what_was_rolled_back(ns):
    # Revision 1 is recorded Succeeded but its pods never get ready, so the wait after the rollback cannot end.
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1-broken-now"),
                         "Succeeded", *sc.IDENTITY, rollout=False)
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:2-broken"), "Failed",
                         *sc.IDENTITY)
    proc = sc.start_plugin(ns, "rollback", "deployment/web", "--wait", "--timeout", "5m")
    before = started_waiting(proc)
    assert "deployment/web rolled back from revision 2" in before, before
    done = interrupt(proc)
    assert done.returncode == 130, done.stderr
    assert (f"interrupted while waiting: deployment/web rolled back 2 -> 1; the rollout goes on; follow it with: "
            f"kubectl rollout status deployment/web -n {ns.name}") in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert sc.live_image(ns) == "example.test/web:1-broken-now"


def test_ctrl_c_during_a_release_rollback_names_the_workloads_written(ns):
    for name in ("api", "web"):  # rolled back in name order: api first, then web, whose wait is interrupted
        for tag, status in (("1-broken-now", "Succeeded"), ("2-broken", "Failed")):
            manifest = sc.labelled(manifests.deployment(name, f"example.test/{name}:{tag}"), sc.RELEASE)
            sc.deploy_and_record(ns, f"deployment/{name}", manifest, status, *sc.IDENTITY, rollout=False)
    proc = sc.start_plugin(ns, "rollback", "--release-name", "r1", "--wait", "--timeout", "3s", "-o", "json")
    started_waiting(proc)  # api: its wait times out after 3s, then web's begins
    before = started_waiting(proc)
    assert "deployment/web rolled back from revision 2" in before, before
    done = interrupt(proc)
    assert done.returncode == 130, done.stderr
    assert ("interrupted; already rolled back: deployment/api; interrupted while waiting: deployment/web rolled back "
            f"2 -> 1; the rollout goes on; follow it with: kubectl rollout status deployment/web -n {ns.name}"
            ) in done.stderr, done.stderr
    # -o json: the document of every exit (docs/output.md), the outcome in its error, as stderr's line has it
    error = contract.validated(done.stdout, "json", "RollbackResult")["error"]
    assert (error["reason"], error["exitCode"]) == ("INTERRUPTED", 130)
    assert f"error: {error['message']}" in done.stderr.splitlines()


def test_ctrl_c_during_a_harness_release_rollback_says_what_was_written_and_how_to_book_keep(ns):
    """--harness-release with --wait, interrupted: the workload rolled back is named, and so is the command that
    writes Harness's book-keeping, which was not written; that command, copied, writes it."""
    import json

    from tests import harness_fixtures as hf

    for tag in ("1-broken-now", "2-broken"):  # release 1's pods never get ready either: the wait cannot end
        ns.apply(manifests.deployment("web", f"example.test/web:{tag}"))
        ns.wait_until(lambda tag=tag: f"example.test/web:{tag}" in sc.rs_by_image(ns, "web"), f"web:{tag}")
    ns.apply(json.dumps(hf.history_object("ConfigMap", "rel", [
        hf.release_entry(2, "InProgress", [hf.workload_entry("Deployment", "web", ns.name, "2")]),
        hf.release_entry(1, "Succeeded", [hf.workload_entry("Deployment", "web", ns.name, "1")])])))
    proc = sc.start_plugin(ns, "rollback", "--harness-release", "rel", "--wait", "--timeout", "5m")
    started_waiting(proc)
    done = interrupt(proc)
    assert done.returncode == 130, done.stderr
    assert "interrupted while waiting: deployment/web rolled back 2 -> 1" in done.stderr, done.stderr
    again = f"kubectl harness-rollback rollback --harness-release rel -n {ns.name}"
    assert "Harness's book-keeping" in done.stderr and f"run the same rollback again: {again}" in done.stderr
    assert "Traceback" not in done.stderr
    assert sc.live_image(ns) == "example.test/web:1-broken-now"
    listed = ns.plugin_json("history", "--harness-release", "rel")
    assert [r["status"] for r in listed["releases"]] == ["InProgress", "Succeeded"]  # not written yet

    booked = ns.cluster.run(*again.split()[1:], check=False)
    assert booked.returncode == 0, booked.stdout + booked.stderr
    listed = ns.plugin_json("history", "--harness-release", "rel")
    assert [r["status"] for r in listed["releases"]] == ["Failed", "Succeeded"]
    assert sc.live_image(ns) == "example.test/web:1-broken-now"


def test_ctrl_c_between_the_template_write_and_its_book_keeping_splits_nothing(ns, proxied):
    """The tester's finding 2: Ctrl-C after the template write, during the audit write (held 5 s by the proxy):
    the book-keeping is finished all the same, and the command says what it did (exit 130)."""
    from tests.cluster.faultproxy import Rule, latency

    sc.deploy_and_record(ns, "deployment/api", manifests.deployment("api", "example.test/api:1"), "Succeeded",
                         *sc.IDENTITY)
    sc.deploy_and_record(ns, "deployment/api", manifests.deployment("api", "example.test/api:2-broken"),
                         "InProgress", *sc.IDENTITY)
    proxied.proxy.add_rule(Rule(latency(5), "PATCH", "/replicasets/"))  # the first book-keeping write
    proc = subprocess.Popen([ns.cluster.kubectl_bin, "harness-rollback", "rollback", "deployment/api", "--wait",
                             "-n", ns.name], env=proxied.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    # The proxy logs a request once answered: the template write is (not the pre-flight's dry run of it, which comes
    # first), and the audit write right after it is held.
    ns.wait_until(lambda: any(seen.method == "PATCH" and seen.path.endswith("/deployments/api") and not seen.dry_run
                              for seen in proxied.proxy.requests), "the template write", interval=0.1)
    done = interrupt(proc)
    assert done.returncode == 130, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "interrupted: deployment/api rolled back 2 -> 1" in done.stderr, done.stderr
    sets = sc.rs_by_image(ns, "api")
    assert sets["example.test/api:1"]["metadata"]["annotations"][sc.ROLLED_BACK_FROM] == "2"
    assert sets["example.test/api:2-broken"]["metadata"]["annotations"][sc.STATUS] == "Failed"
    reasons = [e["reason"] for e in ns.items("events", "--field-selector", "involvedObject.name=api")]
    assert "HarnessRollback" in reasons, reasons


def test_sigterm_during_rollback_wait_is_an_interruption_exit_143_with_its_document(ns):
    # Issue 32b item 3: a cancelled CI job's SIGTERM after the write ended with 143, nothing on stdout and no line
    # saying the rollback was applied; now it is treated as Ctrl-C is, with its own code (the shell's 128 + 15).
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:1-broken-now"),
                         "Succeeded", *sc.IDENTITY, rollout=False)
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:2-broken"), "Failed",
                         *sc.IDENTITY)
    proc = sc.start_plugin(ns, "rollback", "deployment/web", "--wait", "--timeout", "5m", "-o", "json")
    started_waiting(proc)
    proc.send_signal(signal.SIGTERM)
    timer = threading.Timer(60, proc.kill)
    timer.start()
    try:
        err, out = proc.stderr.read(), proc.stdout.read()
        code = proc.wait()
    finally:
        timer.cancel()
    assert code == 143, err
    assert "interrupted while waiting: deployment/web rolled back 2 -> 1; the rollout goes on" in err, err
    assert "Traceback" not in err
    document = contract.validated(out, "json", "RollbackResult")
    assert (document["error"]["reason"], document["error"]["exitCode"]) == ("TERMINATED", 143), document
    # what was changed before the signal, as a script reads it (a tester found only apiVersion, kind and error)
    assert document["changed"] is True and (document["from"]["revision"], document["to"]["revision"]) == (2, 1), \
        document
    assert sc.live_image(ns) == "example.test/web:1-broken-now"


WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_before_the_first_write_writes_nothing(ns, proxied, signum, code):
    """A tester's finding: Ctrl-C (or a cancelled CI job's SIGTERM) during the pre-flight, before anything was
    written, rolled production back all the same (the signal was held for the whole attempt, reads included)."""
    from tests.cluster.faultproxy import Rule, latency

    sc.deploy_and_record(ns, "deployment/api", manifests.deployment("api", "example.test/api:1"), "Succeeded",
                         *sc.IDENTITY)
    sc.deploy_and_record(ns, "deployment/api", manifests.deployment("api", "example.test/api:2-broken"),
                         "InProgress", *sc.IDENTITY)
    held = proxied.proxy.add_rule(Rule(latency(5), "PATCH", "/deployments/api$"))  # the pre-flight's dry run
    proxied.proxy.reset_log()
    proc = subprocess.Popen([ns.cluster.kubectl_bin, "harness-rollback", "rollback", "deployment/api", "-n",
                             ns.name], env=proxied.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ns.wait_until(lambda: held.used, "the pre-flight's dry-run write to arrive", interval=0.1)
    proc.send_signal(signum)
    done = sc.finish(proc, timeout=60)
    assert done.returncode == code, done.stdout + done.stderr
    assert "interrupted: deployment/api was not rolled back" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert sc.live_image(ns, name="api") == "example.test/api:2-broken"
    assert [s for s in proxied.proxy.requests if s.method in WRITES and not s.dry_run] == []


def test_ctrl_c_during_a_blue_green_switch_finishes_it_and_says_so(ns, proxied):
    """A tester's finding: Ctrl-C during the stage Service's write left the primary switched and the stage not,
    and said only "interrupted". Both Services and the Event are one step: held, finished, then said."""
    from tests.cluster.faultproxy import Rule, latency
    from tests.test_bluegreen import deploy_color, swap

    ns.apply(manifests.colour_service("web", "web", "blue", "primary"))
    ns.apply(manifests.colour_service("web-stage", "web", "green", "stage"))
    deploy_color(ns, "blue", "1", "Succeeded")
    deploy_color(ns, "green", "2", "Succeeded")
    swap(ns)
    ns.plugin("record", "deployment/web-green", "--status", "Failed", check=True)
    held = proxied.proxy.add_rule(Rule(latency(5), "PATCH", "/services/web-stage$", dry_runs=False))
    proc = subprocess.Popen([ns.cluster.kubectl_bin, "harness-rollback", "rollback", "service/web", "-n", ns.name,
                             "-o", "json"], env=proxied.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    ns.wait_until(lambda: held.used, "the stage Service's write to arrive", interval=0.1)
    proc.send_signal(signal.SIGINT)
    done = sc.finish(proc, timeout=60)
    assert done.returncode == 130, done.stdout + done.stderr
    assert "interrupted: service/web routed from green to blue (stage service/web-stage now green)" in done.stderr
    assert sc.selectors(ns, "web") == ("blue", "green")
    error = contract.validated(done.stdout, "json", "RollbackResult")["error"]
    assert error["reason"] == "INTERRUPTED"


def pinned_rollback_to_interrupt(ns) -> str:
    """web: revision 1 recorded Succeeded with a digest, revision 2 Failed (live); the image reference."""
    from tests.test_digests import NEW, OLD, stable

    image = f"example.test/{ns.name}:stable"
    ns.cluster.sim.push(image, OLD)
    sc.deploy_and_record(ns, "deployment/web", stable(ns, "1"), "Succeeded", *sc.IDENTITY)
    ns.cluster.sim.push(image, NEW)
    sc.deploy_and_record(ns, "deployment/web", stable(ns, "2"), "Failed", *sc.IDENTITY)
    return image


def assert_all_or_nothing(ns, done: subprocess.CompletedProcess, image: str) -> None:
    """SIGTERM during a pinned rollback: nothing written and said so, or the pinned revision written with its record
    and audit and said so (by the interruption's line, or by the finished command's, the signal coming after it)."""
    assert "Traceback" not in done.stderr, done.stderr
    finished = done.stdout.startswith("deployment/web rolled back from revision 2 ")
    if not finished:
        # -15: the signal came before Python had started the command (killed as any process is, nothing said)
        assert done.returncode == 143 or (done.returncode == -signal.SIGTERM and not done.stdout + done.stderr), \
            done.stdout + done.stderr
        if "interrupted: deployment/web rolled back 2 -> 3" not in done.stderr:
            assert sc.live_image(ns) == image, done.stderr
            return
    from tests.test_digests import OLD

    assert sc.live_image(ns) == f"{image}@{OLD}"
    pinned = sc.rs_by_image(ns, "web")[f"{image}@{OLD}"]["metadata"]["annotations"]
    assert pinned[sc.STATUS] == "Succeeded" and pinned[sc.ROLLED_BACK_FROM] == "2", pinned
    assert sc.PREFIX + "pinned-from" in pinned, pinned


def test_sigterm_after_a_pinned_template_write_finishes_its_record_and_says_so(ns, proxied):
    """A tester's finding (issue 21): SIGTERM right after `rollback --pin-digests` wrote the pinned template said
    "was not rolled back", and once left the pinned revision with no record and no audit."""
    from tests.cluster.faultproxy import Rule, latency

    image = pinned_rollback_to_interrupt(ns)
    held = proxied.proxy.add_rule(Rule(latency(5), "PATCH", "/replicasets/", dry_runs=False))
    proc = subprocess.Popen([ns.cluster.kubectl_bin, "harness-rollback", "rollback", "deployment/web",
                             "--pin-digests", "-n", ns.name], env=proxied.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    ns.wait_until(lambda: held.used, "the first write on a ReplicaSet after the template write", interval=0.1)
    proc.send_signal(signal.SIGTERM)
    done = sc.finish(proc, timeout=60)
    assert "interrupted: deployment/web rolled back 2 -> 3" in done.stderr, done.stderr
    assert_all_or_nothing(ns, done, image)


@pytest.mark.parametrize("delay", [0.3, 0.6, 0.9, 1.2])
def test_sigterm_at_any_moment_of_a_pinned_rollback_leaves_all_or_nothing(ns, delay):
    import time

    image = pinned_rollback_to_interrupt(ns)
    proc = sc.start_plugin(ns, "rollback", "deployment/web", "--pin-digests")
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    assert_all_or_nothing(ns, sc.finish(proc, timeout=60), image)


def test_ctrl_c_during_harness_book_keeping_names_what_was_rolled_back(ns, proxied):
    """A tester's finding: a signal during the write of Harness's history, after the workload was rolled back, said
    only "interrupted". It names the workload and the command that writes the rest of the book-keeping."""
    import json

    from tests import harness_fixtures as hf
    from tests.cluster.faultproxy import Rule, latency

    for tag in ("1", "2-broken"):
        ns.apply(manifests.deployment("web", f"example.test/web:{tag}"))
        ns.wait_until(lambda tag=tag: f"example.test/web:{tag}" in sc.rs_by_image(ns, "web"), f"web:{tag}")
    ns.apply(json.dumps(hf.history_object("ConfigMap", "rel", [
        hf.release_entry(2, "InProgress", [hf.workload_entry("Deployment", "web", ns.name, "2")]),
        hf.release_entry(1, "Succeeded", [hf.workload_entry("Deployment", "web", ns.name, "1")])])))
    held = proxied.proxy.add_rule(Rule(latency(5), "PATCH", "/configmaps/rel$", dry_runs=False))  # the history
    proc = subprocess.Popen([ns.cluster.kubectl_bin, "harness-rollback", "rollback", "--harness-release", "rel", "-n",
                             ns.name, "-o", "json"], env=proxied.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    ns.wait_until(lambda: held.used, "Harness's history write to arrive", interval=0.1)
    proc.send_signal(signal.SIGINT)
    done = sc.finish(proc, timeout=60)
    assert done.returncode == 130, done.stdout + done.stderr
    assert "already rolled back: deployment/web" in done.stderr, done.stderr
    again = f"kubectl harness-rollback rollback --harness-release rel -n {ns.name}"
    assert f"run the same rollback again: {again}" in done.stderr, done.stderr
    assert sc.live_image(ns) == "example.test/web:1"
    # -o json (an on-call finding: it printed only the error): the outcomes so far, the book-keeping in the error
    document = contract.validated(done.stdout, "json", "RollbackResult")
    assert f"error: {document['error']['message']}" in done.stderr.splitlines()
    assert [(r["workload"], r["outcome"], r["from"], r["to"]) for r in document["results"]] == [
        ("deployment/web", "rolled back", 2, 1)], document["results"]
