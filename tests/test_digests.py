"""Image digests on revisions (issue 22 item 2), on the real control plane: the node simulator reports the digest
a tag points at when each pod starts (its registry table, which these tests push to), `record` keeps each
container's digest, `history` shows them, `rollback` warns when a tag moved and `--pin-digests` pins them."""

from __future__ import annotations

import json

import pytest

from tests import manifests
from tests import scenarios as sc
from tests.watching import start_watch_fixture, wait_for_status

start_watch = pytest.fixture(start_watch_fixture)

DIGESTS = sc.PREFIX + "digests"
DIGESTS_NOTE = sc.PREFIX + "digests-note"
OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64


def stable(ns, build: str) -> str:
    """web on a tag of its own namespace (the registry table is the session's), template changed by `build`."""
    return manifests.deployment("web", f"example.test/{ns.name}:stable", labels={"build": build})


def test_a_tag_pushed_again_is_noticed_and_pinned(ns):
    image = f"example.test/{ns.name}:stable"
    ns.cluster.sim.push(image, OLD)
    sc.deploy_and_record(ns, "deployment/web", stable(ns, "1"), "Succeeded", *sc.IDENTITY)
    # The tag is pushed again; revision 2 (the same tag, another build label) runs the new bytes and is found bad.
    ns.cluster.sim.push(image, NEW)
    ns.apply(stable(ns, "2"))
    ns.rollout_status("deployment/web")
    ns.plugin("record", "deployment/web", "--status", "Failed", *sc.IDENTITY, check=True)

    rs = sc.rs_by_image(ns, "web")
    assert len(rs) == 1  # both revisions run the one image reference
    shown = ns.plugin_json("history", "deployment/web")
    by_number = {r["revision"]: r for r in shown["revisions"]}
    assert by_number[1]["digests"] == {"app": f"example.test/{ns.name}@{OLD}"}
    assert by_number[2]["digests"] == {"app": f"example.test/{ns.name}@{NEW}"}
    wide = ns.plugin("history", "deployment/web", "-o", "wide", check=True).stdout
    assert "DIGESTS" in wide and "app=sha256:aaaaaaaaaaaa" in wide and "app=sha256:bbbbbbbbbbbb" in wide

    dry = ns.plugin("rollback", "deployment/web", "--dry-run")
    assert dry.returncode == 0, dry
    assert (f"{image} moved: the target recorded example.test/{ns.name}@{OLD}, revision 2 recorded "
            f"example.test/{ns.name}@{NEW}") in dry.stderr

    result = ns.plugin_json("rollback", "deployment/web", "--pin-digests")
    assert any("pinned to their recorded digests" in w for w in result["warnings"])
    assert sc.live_image(ns) == f"{image}@{OLD}"
    # A new template, so a new revision (3), which takes revision 1's record: history and the next rollback work
    # without identity flags, and a second pinned rollback has nothing to do.
    assert (result["to"]["revision"], result["to"]["status"]) == (3, "Succeeded")
    assert result["to"]["statusReason"] == "revision 1 pinned to its recorded digests"
    assert result["to"]["digests"] == {"app": f"example.test/{ns.name}@{OLD}"}
    assert ns.plugin_json("history", "deployment/web")["rollbackTarget"] == 3
    again = ns.plugin("rollback", "deployment/web", "--pin-digests")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again
    ns.rollout_status("deployment/web")
    # The pods of the rollback run the recorded bytes, not what the tag points at now.
    ns.wait_until(lambda: all(p["spec"]["containers"][0]["image"] == f"{image}@{OLD}"
                              for p in ns.items("pods", "-l", "app=web")), "only pinned pods to be left")
    pods = ns.items("pods", "-l", "app=web")
    assert {s["imageID"] for p in pods for s in p["status"]["containerStatuses"]} == {
        f"docker-pullable://example.test/{ns.name}@{OLD}"}


def test_no_digest_is_recorded_where_the_pods_report_no_repository_digest(ns):
    image = f"example.test/{ns.name}:stable"
    ns.cluster.sim.push(image, None)  # an image built on the node: no repository digest
    ns.apply(stable(ns, "1"))
    ns.rollout_status("deployment/web")
    recorded = ns.plugin("record", "deployment/web", "--status", "Succeeded", *sc.IDENTITY, check=True)
    assert "revision 1: no image digest recorded: container app: no pod reports a repository digest" in recorded.stderr
    annotations = sc.rs_by_image(ns, "web")[image]["metadata"]["annotations"]
    assert DIGESTS not in annotations
    assert annotations[DIGESTS_NOTE] == "container app: no pod reports a repository digest"
    assert ns.plugin_json("history", "deployment/web")["revisions"][0]["digests"] == {}
    dumped = json.dumps(ns.plugin_json("history", "deployment/web"))
    assert "no pod reports a repository digest" in dumped


def test_the_watcher_records_the_digests_with_the_outcome(ns, start_watch):
    image = f"example.test/{ns.name}:stable"
    ns.cluster.sim.push(image, OLD)
    start_watch()
    ns.apply(stable(ns, "1"))
    recorded = wait_for_status(ns, "web", image, "Succeeded")
    assert json.loads(recorded[DIGESTS]) == {"app": f"example.test/{ns.name}@{OLD}"}
    assert DIGESTS_NOTE not in recorded


def test_a_pinned_dry_run_names_the_new_template_and_pinning_replaces_the_moved_tag_warning(ns):
    image = f"example.test/{ns.name}:stable"
    ns.cluster.sim.push(image, OLD)
    sc.deploy_and_record(ns, "deployment/web", stable(ns, "1"), "Succeeded", *sc.IDENTITY)
    ns.cluster.sim.push(image, NEW)
    sc.deploy_and_record(ns, "deployment/web", stable(ns, "2"), "Failed", *sc.IDENTITY)

    dry = ns.plugin("rollback", "deployment/web", "--pin-digests", "--dry-run")
    assert dry.returncode == 0, dry
    said = dry.stdout.splitlines()[0]
    assert "to a new pod template pinned from revision 1 (" in said and said.endswith("(dry run)"), said
    assert "moved" not in dry.stderr, dry.stderr
    assert f"app: {image}@{OLD}" in dry.stderr, dry.stderr
    result = ns.plugin_json("rollback", "deployment/web", "--pin-digests")
    promised = said.removesuffix(" (dry run)").replace(" would be rolled back ", " rolled back ")
    assert result["message"].startswith(promised), (result["message"], said)
    assert result["message"].endswith(": revision 3")
    assert not [w for w in result["warnings"] if "moved" in w]


def test_history_says_when_the_live_pods_run_another_digest_than_recorded(ns):
    """A client-side apply of the original manifest after `rollback --pin-digests` puts `image:tag` back: the
    controller brings revision 1's ReplicaSet back, whose pods pull the tag as it points now."""
    image = f"example.test/{ns.name}:stable"
    ns.cluster.sim.push(image, OLD)
    sc.deploy_and_record(ns, "deployment/web", stable(ns, "1"), "Succeeded", *sc.IDENTITY)
    ns.cluster.sim.push(image, NEW)
    sc.deploy_and_record(ns, "deployment/web", stable(ns, "2"), "Failed", *sc.IDENTITY)
    ns.plugin("rollback", "deployment/web", "--pin-digests", "--wait", check=True)
    assert sc.live_image(ns) == f"{image}@{OLD}"

    ns.apply(stable(ns, "1"))  # the pipeline's manifest, client-side, as before
    ns.rollout_status("deployment/web")
    assert sc.live_image(ns) == image  # the pin is gone
    ns.wait_until(lambda: {s.get("imageID") for p in ns.items("pods", "-l", "app=web")
                           for s in p["status"].get("containerStatuses") or []}
                  == {f"docker-pullable://example.test/{ns.name}@{NEW}"}, "only pods of the moved tag")
    shown = ns.plugin_json("history", "deployment/web")
    live = next(r for r in shown["revisions"] if r["live"])
    assert live["digests"] == {"app": f"example.test/{ns.name}@{OLD}"}
    assert f"its pods run app={NEW[:19]}, not the recorded {OLD[:19]}" in live["note"], live["note"]
    table = ns.plugin("history", "deployment/web", check=True).stdout
    assert f"its pods run app={NEW[:19]}" in table
    # What docs/apply-consistency.md tells to do: pin the live revision again.
    ns.plugin("rollback", "deployment/web", "--to-revision", str(live["revision"]), "--pin-digests", "--wait",
              check=True)
    assert sc.live_image(ns) == f"{image}@{OLD}"
    live = next(r for r in ns.plugin_json("history", "deployment/web")["revisions"] if r["live"])
    assert "its pods run" not in (live["note"] or "")


def test_a_target_older_by_record_than_a_revision_that_recorded_the_moved_tag_is_warned_about(ns):
    """A tester's finding: revision 2 recorded the tag's new bytes and was marked bad; a rollback to revision 1
    (renumbered 4) warned, but the next rollback, to revision 4, did not: revision 2's number is lower than 4's,
    its record newer."""
    image = f"example.test/{ns.name}:stable"
    ns.cluster.sim.push(image, OLD)
    sc.deploy_and_record(ns, "deployment/web", stable(ns, "1"), "Succeeded", *sc.IDENTITY)
    ns.cluster.sim.push(image, NEW)
    sc.deploy_and_record(ns, "deployment/web", stable(ns, "2"), "Succeeded", *sc.IDENTITY)
    ns.plugin("mark-bad", "deployment/web", "--revision", "2", "--reason", "bad bytes", check=True)
    broken = manifests.deployment("web", f"example.test/{ns.name}:3-broken")
    sc.deploy_and_record(ns, "deployment/web", broken, "Failed", *sc.IDENTITY)
    moved = (f"{image} moved: the target recorded example.test/{ns.name}@{OLD}, revision 2 recorded "
             f"example.test/{ns.name}@{NEW}")
    first = ns.plugin("rollback", "deployment/web", "--wait")
    assert first.returncode == 0 and moved in first.stderr, first
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", f"example.test/{ns.name}:5-broken"),
                         "Failed", *sc.IDENTITY)
    dry = ns.plugin("rollback", "deployment/web", "--dry-run")
    assert dry.returncode == 0, dry
    assert "to revision 4 " in dry.stdout, dry.stdout
    assert moved in dry.stderr, dry.stderr
