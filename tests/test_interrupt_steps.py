"""Ctrl-C (or SIGTERM) between the steps of a rollback: after a GitOps pause and before the workload's write, and in
a rollback of many, whose -o json document says what was done so far (docs/reliability.md)."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
from typing import Callable, Optional

import pytest

from tests import contract, manifests
from tests import scenarios as sc
from tests.scenarios import ARGO, create_owner
from tests.test_gitops import APP_SYNC, GIT_IMAGE, GOOD_IMAGE, argo_metadata, deploy_owned

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def signalled_during(ns, proxied, held, args, signum=signal.SIGINT,
                     meanwhile: Callable[[], None] = lambda: None) -> subprocess.CompletedProcess:
    """The plugin run through the proxy, sent `signum` while the request `held` matches is held by the proxy, after
    `meanwhile` (another client's write during the hold)."""
    proc = subprocess.Popen([ns.cluster.kubectl_bin, "harness-rollback", *args, "-n", ns.name], env=proxied.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ns.wait_until(lambda: held.used, "the held write to arrive", interval=0.1)
    meanwhile()
    proc.send_signal(signum)
    return sc.finish(proc, timeout=60)


def pause_held(ns, proxied):
    """The Application's pause write, held 5 s by the proxy; the proxy's log starts now."""
    from tests.cluster.faultproxy import Rule, latency

    held = proxied.proxy.add_rule(Rule(latency(5), "PATCH", "/applications/shop$", dry_runs=False))
    proxied.proxy.reset_log()
    return held


def paused(ns, app_path: str) -> bool:
    return ns.cluster.api.get(app_path)["spec"]["syncPolicy"]["automated"]["selfHeal"] is False


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_the_gitops_pause_stops_before_the_workload_is_written(ns, gitops_crds, proxied, signum,
                                                                                code):
    """The on-call finding: Ctrl-C during the Application's pause write rolled the workload back all the same. The
    pause is a step of its own: it finishes, the workload is not touched, and the line says how to undo the pause."""
    deploy_owned(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    held = pause_held(ns, proxied)
    done = signalled_during(ns, proxied, held, ("rollback", "deployment/web", "--gitops=pause", "--argocd-namespace",
                                                ns.name, "-o", "json"), signum)
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    resume = f"kubectl harness-rollback resume deployment/web -n {ns.name} --argocd-namespace {ns.name}"
    line = (f"error: interrupted: paused Argo CD Application {ns.name}/shop, but deployment/web was not rolled "
            f"back; to undo the pause, run: {resume}")
    assert line in done.stderr.splitlines(), done.stderr
    assert paused(ns, app_path) and sc.live_image(ns) == GIT_IMAGE
    assert [s.path for s in proxied.proxy.requests if s.method in WRITES and not s.dry_run
            and f"/namespaces/{ns.name}/" in s.path and "/applications/" not in s.path] == []  # no Event either
    error = contract.validated(done.stdout, "json", "RollbackResult")["error"]
    assert (error["reason"], error["exitCode"], f"error: {error['message']}") == (
        "INTERRUPTED" if code == 130 else "TERMINATED", code, line)

    undone = ns.cluster.run(*resume.split()[1:], check=False)  # the command printed, copied
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert ns.cluster.api.get(app_path)["spec"]["syncPolicy"] == APP_SYNC


def test_a_signal_during_a_blue_green_pause_leaves_the_services_as_they_were(ns, gitops_crds, proxied):
    sc.apply_all(ns, sc.bluegreen_objects("web"))
    sc.settle_bluegreen(ns, ["web"])
    ns.kubectl("annotate", "service/web", f"argocd.argoproj.io/tracking-id=shop:/Service:{ns.name}/web")
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    held = pause_held(ns, proxied)
    done = signalled_during(ns, proxied, held, ("rollback", "service/web", "--gitops=pause", "--argocd-namespace",
                                                ns.name))
    assert done.returncode == 130, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert (f"error: interrupted: paused Argo CD Application {ns.name}/shop, but service/web was not rolled back; to "
            f"undo the pause, run: kubectl harness-rollback resume service/web -n {ns.name} --argocd-namespace "
            f"{ns.name}") in done.stderr.splitlines(), done.stderr
    assert paused(ns, app_path) and sc.selectors(ns, "web") == ("green", "blue")


def test_a_dry_run_interrupted_at_its_pause_changes_nothing(ns, gitops_crds, proxied):
    from tests.cluster.faultproxy import Rule, latency

    deploy_owned(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    held = proxied.proxy.add_rule(Rule(latency(5), "PATCH", "/applications/shop$"))  # the server dry run's pause
    done = signalled_during(ns, proxied, held, ("rollback", "deployment/web", "--gitops=pause", "--argocd-namespace",
                                                ns.name, "--dry-run=server"))
    assert done.returncode == 130, done.stdout + done.stderr
    assert "interrupted: deployment/web was not rolled back" in done.stderr, done.stderr
    assert not paused(ns, app_path) and sc.live_image(ns) == GIT_IMAGE


def release_of_three(ns, web_metadata: Optional[dict] = None) -> None:
    """api, web (with `web_metadata` on it) and zeta in release r1, each revision 1 Succeeded, revision 2 (live)
    Failed: rolled back in name order."""
    for name in ("api", "web", "zeta"):
        for tag, status in (("1", "Succeeded"), ("2-broken", "Failed")):
            manifest = json.loads(sc.labelled(manifests.deployment(name, f"example.test/{name}:{tag}"), sc.RELEASE))
            manifest["metadata"].update(web_metadata if name == "web" and web_metadata else {})
            sc.deploy_and_record(ns, f"deployment/{name}", json.dumps(manifest), status, *sc.IDENTITY,
                                 rollout=False)


def test_an_interrupted_release_rollback_prints_the_outcomes_so_far(ns, proxied):
    """The on-call finding: -o json of an interrupted --release-name printed only the error (`rollback` takes no
    --all: that is `history --all`). The document
    holds each workload's outcome: api rolled back, web interrupted in its write (held, then finished), zeta not
    started."""
    from tests.cluster.faultproxy import Rule, latency

    release_of_three(ns)
    held = proxied.proxy.add_rule(Rule(latency(5), "PATCH", "/deployments/web$", dry_runs=False))
    done = signalled_during(ns, proxied, held, ("rollback", "--release-name", "r1", "-o", "json"))
    assert done.returncode == 130, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    document = contract.validated(done.stdout, "json", "RollbackResult")
    assert document["error"]["reason"] == "INTERRUPTED", document
    assert f"error: {document['error']['message']}" in done.stderr.splitlines()
    assert [(r["workload"], r["outcome"], r["from"], r["to"]) for r in document["results"]] == [
        ("deployment/api", "rolled back", 2, 1), ("deployment/web", "rolled back", 2, 1),
        ("deployment/zeta", "not started", None, None)], document["results"]
    assert document["summary"]["not started"] == 1 and document["summary"]["rolled back"] == 2
    assert sc.live_image(ns, name="zeta") == "example.test/zeta:2-broken"


def test_an_interrupted_release_rollback_before_a_write_says_which_was_interrupted(ns, proxied):
    from tests.cluster.faultproxy import Rule, latency

    release_of_three(ns)
    held = proxied.proxy.add_rule(Rule(latency(5), "PATCH", "/deployments/web$"))  # web's pre-flight dry run
    done = signalled_during(ns, proxied, held, ("rollback", "--release-name", "r1", "-o", "yaml"))
    assert done.returncode == 130, done.stdout + done.stderr
    document = contract.validated(done.stdout, "yaml", "RollbackResult")
    assert [(r["workload"], r["outcome"]) for r in document["results"]] == [
        ("deployment/api", "rolled back"), ("deployment/web", "interrupted"), ("deployment/zeta", "not started")]
    assert document["results"][1]["message"] == "interrupted: deployment/web was not rolled back"
    assert sc.live_image(ns, name="web") == "example.test/web:2-broken"



def test_a_release_interrupted_at_a_workload_s_pause_names_the_pause_and_stops_there(ns, gitops_crds, proxied):
    release_of_three(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    held = pause_held(ns, proxied)
    done = signalled_during(ns, proxied, held, ("rollback", "--release-name", "r1", "--gitops=pause",
                                                "--argocd-namespace", ns.name, "-o", "json"))
    assert done.returncode == 130, done.stdout + done.stderr
    resume = f"kubectl harness-rollback resume deployment/web -n {ns.name} --argocd-namespace {ns.name}"
    assert (f"error: interrupted; already rolled back: deployment/api; paused Argo CD Application {ns.name}/shop, "
            f"but deployment/web was not rolled back; to undo the pause, run: {resume}; not rolled back yet: "
            "deployment/zeta; ") in done.stderr, done.stderr
    document = contract.validated(done.stdout, "json", "RollbackResult")
    assert [(r["workload"], r["outcome"]) for r in document["results"]] == [
        ("deployment/api", "rolled back"), ("deployment/web", "interrupted"), ("deployment/zeta", "not started")]
    assert paused(ns, app_path) and sc.live_image(ns, name="web") == "example.test/web:2-broken"
    finish = done.stderr.split("to roll them back, run: ")[1].splitlines()[0]
    assert finish == (f"kubectl harness-rollback rollback --release-name r1 -n {ns.name} --gitops=pause "
                      f"--argocd-namespace={ns.name}")
    copied = ns.cluster.run(*shlex.split(finish)[1:], check=False)  # the command printed, copied, works
    assert copied.returncode == 0, copied.stdout + copied.stderr
    assert [sc.live_image(ns, name=n) for n in ("api", "web", "zeta")] == [
        "example.test/api:1", "example.test/web:1", "example.test/zeta:1"]


NEWER_IMAGE = "example.test/web:3"  # another client's deploy while the rollback's write is held
IDENTITY = (*sc.IDENTITY, "--cluster-name", sc.CLUSTER_NAME)  # the proxy's kubeconfig names its cluster faultproxy


def workload_writes(ns, proxied) -> list:
    return [s.outcome for s in proxied.proxy.requests if s.method in WRITES and not s.dry_run
            and s.path.endswith("/deployments/web")]


def test_a_signal_during_a_write_refused_with_409_stops_before_the_retry(ns, proxied):
    """The tester's finding: the rollback's PATCH held, a new image deployed by another client meanwhile, Ctrl-C:
    the 409 was retried and rolled back the newer deploy the command never showed (exit 130, "rolled back 3 -> 1").
    A 409 wrote nothing: the command stops there."""
    from tests.cluster.faultproxy import Rule, latency

    deploy_owned(ns, {})
    held = proxied.proxy.add_rule(Rule(latency(5), "PATCH", "/deployments/web$", dry_runs=False))
    proxied.proxy.reset_log()
    done = signalled_during(ns, proxied, held, ("rollback", "deployment/web", *IDENTITY, "-o", "json"),
                            meanwhile=lambda: sc.set_image_quickly(ns, "web", NEWER_IMAGE))
    assert done.returncode == 130, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    line = "error: interrupted: deployment/web was not rolled back"
    assert line in done.stderr.splitlines(), done.stderr
    assert sc.live_image(ns) == NEWER_IMAGE
    assert len(workload_writes(ns, proxied)) == 1, proxied.proxy.requests  # the refused one alone
    error = contract.validated(done.stdout, "json", "RollbackResult")["error"]
    assert f"error: {error['message']}" == line


def test_a_signal_during_a_refused_write_after_the_pause_names_the_pause(ns, gitops_crds, proxied):
    from tests.cluster.faultproxy import Rule, latency

    deploy_owned(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    held = proxied.proxy.add_rule(Rule(latency(5), "PATCH", "/deployments/web$", dry_runs=False))
    proxied.proxy.reset_log()
    done = signalled_during(ns, proxied, held, ("rollback", "deployment/web", *IDENTITY, "--gitops=pause",
                                                "--argocd-namespace", ns.name), signal.SIGTERM,
                            meanwhile=lambda: sc.set_image_quickly(ns, "web", NEWER_IMAGE))
    assert done.returncode == 143, done.stdout + done.stderr
    resume = f"kubectl harness-rollback resume deployment/web -n {ns.name} --argocd-namespace {ns.name}"
    assert (f"error: interrupted: paused Argo CD Application {ns.name}/shop, but deployment/web was not rolled "
            f"back; to undo the pause, run: {resume}") in done.stderr.splitlines(), done.stderr
    assert paused(ns, app_path) and sc.live_image(ns) == NEWER_IMAGE
    assert len(workload_writes(ns, proxied)) == 1, proxied.proxy.requests


def test_a_409_on_the_book_keeping_after_the_template_write_still_says_rolled_back(ns, proxied):
    """A refused write is not the step's first write only when nothing was written before it: after the template
    write, a 409 on the audit annotation is retried, and the interrupted command says what it wrote."""
    from tests.cluster.faultproxy import Rule, latency, status

    deploy_owned(ns, {})
    held = proxied.proxy.add_rule(Rule(latency(3), "PATCH", "/deployments/web$", dry_runs=False))
    refused = proxied.proxy.add_rule(Rule(status(409), "PATCH", "/replicasets/", dry_runs=False))
    proxied.proxy.reset_log()
    done = signalled_during(ns, proxied, held, ("rollback", "deployment/web", *IDENTITY))
    assert done.returncode == 130, done.stdout + done.stderr
    assert refused.used == 1, proxied.proxy.requests
    assert (f"error: interrupted: deployment/web rolled back 2 -> 1; the rollout goes on; follow it with: kubectl "
            f"rollout status deployment/web -n {ns.name}") in done.stderr.splitlines(), done.stderr
    assert sc.live_image(ns) == GOOD_IMAGE


def test_a_failure_after_the_pause_names_the_pause_and_its_resume_command(ns, gitops_crds, proxied):
    """The tester's finding: a 403 on the workload's write after --gitops=pause left the Application paused with no
    word of it. The error says the pause and how to undo it (docs/gitops.md)."""
    from tests.cluster.faultproxy import Rule, status

    deploy_owned(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    proxied.proxy.add_rule(Rule(status(403), "PATCH", "/deployments/web$", dry_runs=False))
    done = ns.cluster.run("harness-rollback", "rollback", "deployment/web", *IDENTITY, "--gitops=pause",
                          "--argocd-namespace", ns.name, "-n", ns.name, "-o", "json", env=proxied.env, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    resume = f"kubectl harness-rollback resume deployment/web -n {ns.name} --argocd-namespace {ns.name}"
    left = f"paused Argo CD Application {ns.name}/shop, but deployment/web was not rolled back; to undo the pause, " \
           f"run: {resume}"
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert "Forbidden (403)" in line and line.endswith(f"; {left}"), done.stderr
    error = contract.validated(done.stdout, "json", "RollbackResult")["error"]
    assert f"error: {error['message']}" == line
    assert paused(ns, app_path) and sc.live_image(ns) == GIT_IMAGE


def test_nothing_to_do_after_the_pause_names_the_pause(ns, gitops_crds, proxied):
    """Another client rolled it back while the rollback's write was held: its 409 is decided again, "nothing to do",
    and the Application this rollback paused is named with its resume command in the document's notes."""
    from tests.cluster.faultproxy import Rule, latency

    deploy_owned(ns, argo_metadata(ns, "shop"))
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    held = proxied.proxy.add_rule(Rule(latency(3), "PATCH", "/deployments/web$", dry_runs=False))
    proc = subprocess.Popen([ns.cluster.kubectl_bin, "harness-rollback", "rollback", "deployment/web", *IDENTITY,
                             "--gitops=pause", "--argocd-namespace", ns.name, "-n", ns.name, "-o", "json"],
                            env=proxied.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ns.wait_until(lambda: held.used, "the held write to arrive", interval=0.1)
    sc.set_image_quickly(ns, "web", GOOD_IMAGE)
    done = sc.finish(proc, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    document = contract.validated(done.stdout, "json", "RollbackResult")
    resume = f"kubectl harness-rollback resume deployment/web -n {ns.name} --argocd-namespace {ns.name}"
    left = f"paused Argo CD Application {ns.name}/shop, but deployment/web was not rolled back; to undo the pause, " \
           f"run: {resume}"
    assert document["message"].endswith("(another client rolled it back first)"), document
    assert left in document["gitops"]["notes"], document
    assert paused(ns, app_path)


def test_an_interrupted_release_dry_run_says_would_and_prints_the_dry_run_command(ns, proxied):
    """The tester's finding: an interrupted dry run printed a real rollback command and "not rolled back yet"."""
    from tests.cluster.faultproxy import Rule, latency

    release_of_three(ns)
    held = proxied.proxy.add_rule(Rule(latency(5), "PATCH", "/deployments/web$"))  # web's server dry run
    done = signalled_during(ns, proxied, held, ("rollback", "--release-name", "r1", "--dry-run=server"))
    assert done.returncode == 130, done.stdout + done.stderr
    assert "not rolled back yet" not in done.stderr, done.stderr
    assert (f"not looked at yet (dry run): deployment/zeta; to see what the rollback would do to it, run: kubectl "
            f"harness-rollback rollback --release-name r1 -n {ns.name} --dry-run=server") in done.stderr, done.stderr
    assert [sc.live_image(ns, name=n) for n in ("api", "web", "zeta")] == [
        "example.test/api:2-broken", "example.test/web:2-broken", "example.test/zeta:2-broken"]


def test_a_blue_green_rollback_interrupted_in_its_switch_prints_the_pause_reminder(ns, gitops_crds, proxied):
    """The tester's finding: the Deployment path says, on an interrupt after the write, that its owner is paused
    and how to resume; the Blue/Green switch said nothing of it."""
    from tests.cluster.faultproxy import Rule, latency

    sc.apply_all(ns, sc.bluegreen_objects("web"))
    sc.settle_bluegreen(ns, ["web"])
    ns.kubectl("annotate", "service/web", f"argocd.argoproj.io/tracking-id=shop:/Service:{ns.name}/web")
    app_path = create_owner(ns, ARGO, "shop", {"syncPolicy": APP_SYNC})
    held = proxied.proxy.add_rule(Rule(latency(3), "PATCH", "/services/web$", dry_runs=False))
    done = signalled_during(ns, proxied, held, ("rollback", "service/web", "--gitops=pause", "--argocd-namespace",
                                                ns.name))
    assert done.returncode == 130, done.stdout + done.stderr
    assert (f"service/web is managed by Argo CD Application {ns.name}/shop: revert the change in Git, then run: "
            f"kubectl harness-rollback resume service/web -n {ns.name} --argocd-namespace {ns.name}"
            ) in done.stderr.splitlines(), done.stderr
    assert paused(ns, app_path) and sc.selectors(ns, "web") == ("blue", "green")
