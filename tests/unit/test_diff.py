"""diff's pure parts (commands/diff.py): the changed paths, a Secret's placeholders, KUBECTL_EXTERNAL_DIFF's command as
kubectl builds it, and which revisions `live`, `target` and numbers name."""

import pytest

from kubectl_rollback.commands import diff
from kubectl_rollback.commands.workload_history import WorkloadHistory
from kubectl_rollback.decide import Decision, Revision
from kubectl_rollback.errors import NoTargetError, UsageError
from kubectl_rollback.records import Record, Status
from kubectl_rollback.workloads import BY_ALIAS

DEPLOYMENT = BY_ALIAS["deployment"]


def test_changed_paths_name_list_items_by_name_and_odd_keys_in_brackets():
    before = {"spec": {"containers": [{"name": "web", "image": "a:1"}, {"name": "side", "image": "s:1"}],
                       "args": ["x", "y"]}, "metadata": {"annotations": {"harness.io/x": "1"}}}
    after = {"spec": {"containers": [{"name": "side", "image": "s:1"}, {"name": "web", "image": "a:2"}],
                      "args": ["x"]}, "metadata": {"annotations": {"harness.io/x": "2"}}}
    assert diff.changed_paths(before, after) == ['metadata.annotations["harness.io/x"]', "spec.args[1]",
                                                 "spec.containers[web].image"]
    assert diff.changed_paths(before, before) == []
    assert diff.changed_paths(1, 2) == ["."]


def test_a_secret_shows_which_keys_changed_never_a_value():
    before = {"data": {"same": "c2FtZQ==", "old": "b2xk", "gone": "eA=="}, "binaryData": {}, "type": "Opaque"}
    after = {"data": {"same": "c2FtZQ==", "old": "bmV3", "added": "eQ=="}, "binaryData": {}, "type": "Opaque"}
    hidden_before, hidden_after = diff.masked(before, after)
    assert hidden_before["data"] == {"same": "(hidden)", "old": "(hidden, before)", "gone": "(hidden, before)"}
    assert hidden_after["data"] == {"same": "(hidden)", "old": "(hidden, after)", "added": "(hidden, after)"}
    assert diff.changed_paths(hidden_before, hidden_after) == ["data.added", "data.gone", "data.old"]
    assert "b2xk" not in repr((hidden_before, hidden_after)) and "bmV3" not in repr((hidden_before, hidden_after))


@pytest.mark.parametrize("value, command", [
    ("meld", ["meld", "A", "B"]),
    ("colordiff -N -u", ["colordiff", "A", "B", "-N", "-u"]),
    ("mydiff --color=always $(rm) ;x", ["mydiff", "A", "B", "--color=always"]),  # kubectl drops the others
])
def test_the_external_command_is_built_as_kubectl_builds_it(value, command):
    assert diff.external_command(value, "A", "B") == command


def loaded_history() -> WorkloadHistory:
    """Revision 3 live (Failed), 2 the rollback target, 1 older."""
    revisions = [Revision(n, f"web-{n}", Record(status=Status.FAILED if n == 3 else Status.SUCCEEDED), (), None,
                          live=n == 3) for n in (3, 2, 1)]
    return WorkloadHistory(DEPLOYMENT, {"metadata": {"name": "web"}}, "shop", revisions, None,
                           Decision(target=revisions[1], skipped=()), None)


def test_live_target_and_numbers_name_the_revisions():
    loaded = loaded_history()
    before, after = diff.sides(loaded, [])
    assert (before.revision.number, before.role, after.revision.number, after.role) == (3, "live", 2,
                                                                                        "rollback target")
    assert [s.revision.number for s in diff.sides(loaded, ["1"])] == [3, 1]
    assert [s.revision.number for s in diff.sides(loaded, ["target", "1"])] == [2, 1]
    with pytest.raises(NoTargetError, match="revision 9 is not in the history"):
        diff.sides(loaded, ["9"])
    with pytest.raises(UsageError, match="'newest' names no revision"):
        diff.sides(loaded, ["newest"])
    with pytest.raises(UsageError, match="diff compares two revisions"):
        diff.sides(loaded, ["1", "2", "3"])


def test_a_blue_green_side_is_labelled_by_its_colour_deployment_and_revision():
    """Both colours' live revisions are often number 1: each side says which colour and Deployment it is, in the
    notes line and in the folders the unified diff and KUBECTL_EXTERNAL_DIFF's program see."""
    revision = loaded_history().revisions[2]
    green = diff.Side(revision, "live", "deployment/web-green", "green")
    blue = diff.Side(revision, "", "deployment/web-blue", "blue")
    assert green.label == "green (deployment/web-green revision 1, live)"
    assert green.folder == "GREEN-web-green-REVISION-1"
    assert (blue.label, blue.folder) == ("blue (deployment/web-blue revision 1)", "BLUE-web-blue-REVISION-1")
    plain = diff.Side(revision, "rollback target")
    assert (plain.label, plain.folder) == ("revision 1 (rollback target)", "REVISION-1")
