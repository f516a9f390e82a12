"""Harness's book-keeping after a rollback (harness-behaviour.md §4.2 step 8), on histories in Harness's bytes
(tests/harness_fixtures.py): the current release marked Failed and the target's revisions renumbered, every other
byte of the YAML as Harness wrote it, stored with the same encoding."""

from __future__ import annotations

import base64
import zlib

import pytest

from kubectl_rollback.harness_history import edit_history, parse_history
from tests.harness_fixtures import (
    FLAG_KEY,
    HISTORY_KEY,
    build_history_data,
    release_entry,
    single_workload_release_entry,
    workload_entry,
    yamlbeans_dump,
)

ENCODINGS = [None, "gzip", "zlib", "deflate"]
INFLATE = {"gzip": 16 + zlib.MAX_WBITS, "zlib": zlib.MAX_WBITS, "deflate": -zlib.MAX_WBITS}


def releases(name="web"):
    return [release_entry(3, "InProgress", [workload_entry("Deployment", name, "shop", "3")]),
            release_entry(2, "Succeeded", [workload_entry("Deployment", name, "shop", "2"),
                                           workload_entry("StatefulSet", "db", "shop", "1")]),
            release_entry(1, "Succeeded", [workload_entry("Deployment", name, "shop", "1")])]


def stored_text(value: str, compressed, secret: bool) -> str:
    """The YAML text a data.releaseHistory value holds."""
    if compressed is None:
        return base64.b64decode(value).decode() if secret else value
    return zlib.decompress(base64.b64decode(value), INFLATE[compressed]).decode()


@pytest.mark.parametrize("secret", [False, True], ids=["configmap", "secret"])
@pytest.mark.parametrize("compressed", ENCODINGS, ids=["plain", "gzip", "zlib", "deflate"])
def test_only_the_status_and_the_revisions_change_in_the_encoding_read(compressed, secret):
    data = build_history_data(releases("0123"), compressed, secret)
    edit = edit_history("Secret" if secret else "ConfigMap", "rel", data, secret, failed=3, target=2,
                        revisions={("Deployment", "0123", "shop"): 4, ("StatefulSet", "db", "shop"): 2})
    assert edit.changes == ("release 3 status InProgress -> Failed", "release 2 deployment/0123 revision 2 -> 4",
                            "release 2 statefulset/db revision 1 -> 2")
    assert edit.skipped == ()
    expected = releases("0123")
    expected[0]["status"] = "Failed"
    expected[1]["managedWorkloads"][0]["revision"] = "4"
    expected[1]["managedWorkloads"][1]["revision"] = "2"
    assert stored_text(edit.value, compressed, secret) == yamlbeans_dump({"version": "v1", "releases": expected})
    parsed = parse_history("ConfigMap", "rel", dict(data, **{HISTORY_KEY: edit.value}), secret)
    assert [(r.number, r.status, [w.revision for w in r.workloads]) for r in parsed.releases] == [
        (3, "Failed", [3]), (2, "Succeeded", [4, 2]), (1, "Succeeded", [1])]
    assert parsed.releases[1].workloads[0].name == "0123"


def test_gzip_is_written_as_the_jdk_writes_it():
    data = build_history_data(releases(), "gzip", secret=False)
    edit = edit_history("ConfigMap", "rel", data, False, failed=3, target=None, revisions={})
    blob = base64.b64decode(edit.value)
    assert blob[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x00"  # GZIPOutputStream's header: MTIME, XFL, OS 0
    assert data[FLAG_KEY] == "true"  # the flag is another key, which the edit does not touch


def test_the_older_single_workload_form_gets_its_revision():
    entries = [single_workload_release_entry(2, "Failed", "Deployment", "web", None, "2"),
               single_workload_release_entry(1, "Succeeded", "Deployment", "web", None, "1")]
    data = build_history_data(entries, "gzip", secret=False)
    edit = edit_history("ConfigMap", "rel", data, False, failed=2, target=1, revisions={("Deployment", "web", None): 3})
    assert edit.changes == ("release 1 deployment/web revision 1 -> 3",)  # release 2 is Failed already
    parsed = parse_history("ConfigMap", "rel", dict(data, **{HISTORY_KEY: edit.value}), False)
    assert [w.revision for w in parsed.releases[1].workloads] == [3]


def test_nothing_to_change_writes_nothing_and_a_revision_harness_never_recorded_is_not_added():
    entries = [release_entry(2, "Failed", [workload_entry("Deployment", "web", None, "2")]),
               release_entry(1, "Succeeded", [workload_entry("Deployment", "web", None, None)])]
    data = build_history_data(entries, None, secret=False)
    edit = edit_history("ConfigMap", "rel", data, False, failed=2, target=1, revisions={("Deployment", "web", None): 3})
    assert edit.value is None and edit.changes == ()
    assert edit.skipped == ("release 1 deployment/web revision: not recorded; left out",)


def test_a_quoted_scalar_keeps_its_quotes():
    text = 'version: v1\nreleases:\n- number: 2\n  status: "InProgress"\n  managedWorkloads:\n' \
           '  - workload:\n      kind: Deployment\n      name: web\n    revision: \'2\'\n'
    edit = edit_history("ConfigMap", "rel", {HISTORY_KEY: text}, False, failed=2, target=2,
                        revisions={("Deployment", "web", None): 5})
    assert edit.value == text.replace('"InProgress"', '"Failed"').replace("'2'", "'5'")
