"""Harness legacy release history: parsing the stored ConfigMap/Secret data, and the rollback target chosen over it."""

from __future__ import annotations

import base64
import dataclasses
import zlib

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubectl_rollback import harness_history
from kubectl_rollback.errors import ExitCode, NoTargetError, RollbackError
from kubectl_rollback.harness_history import (
    HarnessPlan,
    HistoryFormatError,
    ManagedWorkload,
    Release,
    ReleaseHistory,
    parse_history,
    plan_rollback,
)
from tests.harness_fixtures import (
    FLAG_KEY,
    HISTORY_KEY,
    build_history_data,
    encode_history,
    release_entry,
    resource_ref,
    single_workload_release_entry,
    workload_entry,
)

ENCODINGS = [None, "zlib", "gzip", "deflate"]
WEB = workload_entry("Deployment", "web", "shop", "4")
WORKER = workload_entry("StatefulSet", "worker", "shop", "2")
TWO_RELEASES = [
    release_entry(
        5,
        "Failed",
        [WEB, WORKER],
        resources=[
            resource_ref("Deployment", "web", "shop"),
            resource_ref("StatefulSet", "worker", "shop"),
            resource_ref("ConfigMap", "web-config-5", "shop", versioned=True),
            resource_ref("Namespace", "shop"),
        ],
    ),
    release_entry(4, "Succeeded", [workload_entry("Deployment", "web", "shop", "3")]),
]
EXPECTED_RELEASES = (
    Release(
        5,
        "Failed",
        (ManagedWorkload("Deployment", "web", "shop", 4), ManagedWorkload("StatefulSet", "worker", "shop", 2)),
        ("Deployment/shop/web", "StatefulSet/shop/worker", "ConfigMap/shop/web-config-5", "Namespace/shop"),
    ),
    Release(4, "Succeeded", (ManagedWorkload("Deployment", "web", "shop", 3),), ("Deployment/shop/web",)),
)


def parse(data, secret=False, name="r1"):
    return parse_history("Secret" if secret else "ConfigMap", name, data, secret)


def parse_releases(releases, compressed=None, secret=False):
    return parse(build_history_data(releases, compressed, secret), secret)


def parse_yaml(text):
    return parse({HISTORY_KEY: text})


def format_error(data, secret=False):
    with pytest.raises(HistoryFormatError) as caught:
        parse(data, secret)
    return caught.value.message


def assert_one_line(message, prefix):
    assert "\n" not in message
    assert message.startswith(prefix), message


def history(*releases):
    return ReleaseHistory('ConfigMap "r1"', tuple(releases), ())


def rel(number, status, workloads=(ManagedWorkload("Deployment", "web", "shop", 1),)):
    return Release(number, status, tuple(workloads), ())


# --- the documented format, every encoding -------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [False, True], ids=["configmap", "secret"])
@pytest.mark.parametrize("compressed", ENCODINGS, ids=["plain", "zlib", "gzip", "deflate"])
def test_every_documented_encoding_gives_the_same_history(compressed, secret):
    parsed = parse_releases(TWO_RELEASES, compressed, secret)
    assert parsed == ReleaseHistory(f'{"Secret" if secret else "ConfigMap"} "r1"', EXPECTED_RELEASES, ())


def test_fixture_flags_are_spelled_as_documented():
    assert build_history_data([], "zlib", secret=False)[FLAG_KEY] == "true"
    assert build_history_data([], "zlib", secret=True)[FLAG_KEY] == "AQ=="
    assert FLAG_KEY not in build_history_data([], None, secret=True)


def test_configmap_compressed_value_is_base64_of_zlib_yaml():
    data = build_history_data(TWO_RELEASES, "zlib", secret=False)
    document = yaml.safe_load(zlib.decompress(base64.b64decode(data[HISTORY_KEY])))
    assert document["version"] == "v1" and document["releases"][0]["number"] == 5


@pytest.mark.parametrize("flag", ["TRUE", " true ", "True"])
def test_configmap_flag_is_case_and_space_insensitive(flag):
    data = dict(build_history_data(TWO_RELEASES, "zlib", secret=False), **{FLAG_KEY: flag})
    assert parse(data).releases == EXPECTED_RELEASES


def test_secret_flag_spelled_true_is_accepted():
    data = dict(build_history_data(TWO_RELEASES, "gzip", secret=True), **{FLAG_KEY: "dHJ1ZQ=="})  # "true"
    assert parse(data, secret=True).releases == EXPECTED_RELEASES


@pytest.mark.parametrize("flag", ["false", "", "0"])
def test_configmap_flag_not_true_means_plain_yaml(flag):
    data = dict(build_history_data(TWO_RELEASES, None, secret=False), **{FLAG_KEY: flag})
    assert parse(data).releases == EXPECTED_RELEASES


def test_base64_wrapped_across_lines_is_accepted():
    data = build_history_data(TWO_RELEASES, "zlib", secret=True)
    value = data[HISTORY_KEY]
    data[HISTORY_KEY] = "\n".join(value[i : i + 76] for i in range(0, len(value), 76))
    assert parse(data, secret=True).releases == EXPECTED_RELEASES


def test_single_workload_form():
    parsed = parse_releases([single_workload_release_entry(2, "Succeeded", "Deployment", "bg-blue", "shop", "7")])
    assert parsed.releases == (
        Release(2, "Succeeded", (ManagedWorkload("Deployment", "bg-blue", "shop", 7),), ("Deployment/shop/bg-blue",)),
    )
    assert parsed.warnings == ()


def test_managed_workloads_preferred_over_single_workload():
    entry = dict(release_entry(3, "Failed", [WEB]), managedWorkload={"kind": "Deployment", "name": "old"})
    assert parse_releases([entry]).releases[0].workloads == (ManagedWorkload("Deployment", "web", "shop", 4),)


def test_empty_managed_workloads_falls_back_to_single_workload():
    entry = dict(single_workload_release_entry(3, "Failed", "Deployment", "web", None, "9"), managedWorkloads=[])
    assert parse_releases([entry]).releases[0].workloads == (ManagedWorkload("Deployment", "web", None, 9),)


@pytest.mark.parametrize(
    ("revision", "expected", "warned"),
    [("3", 3, False), (3, 3, False), (" 12 ", 12, False), (None, None, False), ("", None, False),
     ("three", None, True), ("-1", None, True), (True, None, True), (2.5, None, True)],
)
def test_revision_parsing(revision, expected, warned):
    parsed = parse_releases([release_entry(1, "Succeeded", [workload_entry("Deployment", "web", "ns", revision)])])
    assert parsed.releases[0].workloads[0].revision == expected
    assert bool(parsed.warnings) == warned
    if warned:
        assert parsed.warnings[0].startswith("data.releaseHistory.releases[0].managedWorkloads[0].revision: ")


@pytest.mark.parametrize(
    ("status", "expected", "warned"),
    [("Succeeded", "Succeeded", False), ("succeeded", "Succeeded", False), ("FAILED", "Failed", False),
     ("inprogress", "InProgress", False), ("Unknown", "Unknown", False), ("Pending", "Unknown", True),
     (None, "Unknown", True), (3, "Unknown", True)],
)
def test_status_is_case_normalised(status, expected, warned):
    parsed = parse_releases([release_entry(1, status, [WEB])])
    assert parsed.releases[0].status == expected
    assert bool(parsed.warnings) == warned


def test_release_without_a_usable_number_is_skipped_with_a_warning():
    entries = [release_entry(n, "Failed", [WEB]) for n in (None, "7", True, "x", -2)]
    entries[0].pop("number")
    parsed = parse_releases(entries + ["not a release"])
    assert [r.number for r in parsed.releases] == [7]
    assert [w.split(":")[0] for w in parsed.warnings] == [
        "data.releaseHistory.releases[0].number",
        "data.releaseHistory.releases[2].number",
        "data.releaseHistory.releases[3].number",
        "data.releaseHistory.releases[4].number",
        "data.releaseHistory.releases[5]",
    ]


def test_unknown_fields_and_java_class_tags_are_ignored():
    text = """\
!!io.harness.k8s.releasehistory.ReleaseHistory
version: v1
releases:
- !!io.harness.k8s.releasehistory.K8sLegacyRelease
  number: 2
  status: Succeeded
  manifestHash: abc123
  bgEnvironment: primary
  helmChartName: web
  resources:
  - !!io.harness.k8s.model.KubernetesResourceId {kind: Deployment, name: web, namespace: shop, versioned: false}
  managedWorkloads:
  - workload: {kind: Deployment, name: web, namespace: shop}
    revision: !!java.lang.String '6'
    extra: ignored
  resourcesWithSpec: []
  customWorkloads: []
"""
    parsed = parse_yaml(text)
    assert parsed.releases == (
        Release(2, "Succeeded", (ManagedWorkload("Deployment", "web", "shop", 6),), ("Deployment/shop/web",),
                bg_environment="primary"),
    )
    assert parsed.warnings == ()


def test_python_tags_build_no_objects():
    parsed = parse_yaml("version: v1\nreleases:\n- !!python/object/apply:os.system ['false']\n")
    assert parsed.releases == ()
    assert parsed.warnings == ("data.releaseHistory.releases[0]: expected a mapping, got a list; release skipped",)


def test_numeric_names_are_read_as_names():
    parsed = parse_yaml("releases:\n- number: 1\n  status: Failed\n  managedWorkload: {kind: Deployment, name: 404}\n")
    assert parsed.releases[0].workloads == (ManagedWorkload("Deployment", "404", None, None),)
    assert parsed.releases[0].resources == ()


@pytest.mark.parametrize("data", [None, {}, {HISTORY_KEY: ""}, {"other": "x"}])
def test_no_history_is_an_empty_history(data):
    parsed = parse(data)
    assert parsed.releases == ()
    assert parsed.warnings == ("data.releaseHistory is missing or empty: no release history",)


@pytest.mark.parametrize("text", ["", "# nothing\n", "~\n"])
def test_empty_yaml_document_is_an_empty_history(text):
    parsed = parse(encode_history(text, "zlib", secret=False))
    assert parsed.releases == ()
    assert len(parsed.warnings) == 1


@pytest.mark.parametrize("text", ["version: v1\n", "version: v1\nreleases:\n", "releases: []\n"])
def test_missing_or_null_releases_is_an_empty_history(text):
    assert parse_yaml(text) == ReleaseHistory('ConfigMap "r1"', (), ())


def test_bad_resources_are_summarised_in_one_warning():
    resources = [resource_ref("Service", "web", "shop"), "Deployment/shop/web", {"kind": "Service"}, resource_ref(
        "ClusterRole", "reader")]
    parsed = parse_releases([release_entry(1, "Succeeded", [WEB], resources=resources)])
    assert parsed.releases[0].resources == ("Service/shop/web", "ClusterRole/reader")
    assert parsed.warnings == (
        "data.releaseHistory.releases[0].resources: 2 of 4 entries lack a kind and name; skipped",
    )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("resources", "Deployment/web", "data.releaseHistory.releases[0].resources: expected a list, got a string"),
        ("managedWorkloads", {"a": 1}, "data.releaseHistory.releases[0].managedWorkloads: expected a list"),
    ],
)
def test_wrong_typed_list_fields_are_ignored_with_a_warning(field, value, expected):
    entry = dict(release_entry(1, "Succeeded", []), **{field: value})
    parsed = parse_releases([entry])
    assert parsed.releases[0].number == 1
    assert parsed.warnings[0].startswith(expected)


def test_bad_workload_entries_are_skipped_individually():
    workloads = [WEB, "Deployment/web", {"workload": {"kind": "Deployment"}, "revision": "1"}, {"revision": "2"}]
    parsed = parse_releases([release_entry(1, "Succeeded", workloads, resources=[])])
    assert parsed.releases[0].workloads == (ManagedWorkload("Deployment", "web", "shop", 4),)
    assert [w.split(":")[0] for w in parsed.warnings] == [
        "data.releaseHistory.releases[0].managedWorkloads[1]",
        "data.releaseHistory.releases[0].managedWorkloads[2].workload",
        "data.releaseHistory.releases[0].managedWorkloads[3].workload",
    ]


def test_a_custom_workload_without_a_usable_spec_is_skipped_with_a_warning():
    entry = dict(release_entry(1, "Succeeded", [WEB]), customWorkloads=[{"kind": "Rollout", "metadata": {}}])
    parsed = parse_releases([entry])
    (warning,) = parsed.warnings
    assert warning == ("data.releaseHistory.releases[0].customWorkloads[0]: not a manifest with apiVersion, kind and "
                       "metadata.name; skipped")
    assert parsed.releases[0].specs == () and not any(w.custom for w in parsed.releases[0].workloads)


def test_out_of_order_numbers_are_kept_as_stored_with_a_warning():
    parsed = parse_releases([release_entry(n, "Succeeded", [WEB]) for n in (3, 5, 4)])
    assert [r.number for r in parsed.releases] == [3, 5, 4]
    assert parsed.warnings[0].startswith("data.releaseHistory.releases: numbers [3, 5, 4] are not newest first")


def test_unknown_version_is_read_with_a_warning():
    parsed = parse_yaml("version: v2\nreleases: []\n")
    assert parsed.warnings == ("data.releaseHistory.version: 'v2' is not v1; read as v1",)


def test_parsed_values_are_frozen():
    parsed = parse_releases(TWO_RELEASES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.releases[0].number = 9


# --- corrupt inputs: one-line HistoryFormatError naming object and field -------------------------------------------


def test_history_format_error_is_a_rollback_error_with_exit_code_error():
    error = HistoryFormatError("a\n  b")
    assert isinstance(error, RollbackError)
    assert error.exit_code == ExitCode.ERROR
    assert error.message == "a b"


@pytest.mark.parametrize(
    ("data", "secret", "prefix"),
    [
        ({HISTORY_KEY: "not base64!"}, True, 'Secret "r1": data.releaseHistory: not valid base64'),
        ({HISTORY_KEY: "abc"}, True, 'Secret "r1": data.releaseHistory: not valid base64'),
        ({HISTORY_KEY: "Zm9v", FLAG_KEY: "true"}, False, 'ConfigMap "r1": data.releaseHistory: isReleaseHistoryCompr'),
        ({HISTORY_KEY: "é", FLAG_KEY: "true"}, False, 'ConfigMap "r1": data.releaseHistory: not valid base64'),
        ({HISTORY_KEY: "Zm9v", FLAG_KEY: "%%"}, True, 'Secret "r1": data.isReleaseHistoryCompressed: not valid base64'),
        ({HISTORY_KEY: 42}, False, 'ConfigMap "r1": data.releaseHistory: expected a string, got an integer'),
        ({HISTORY_KEY: b"x"}, True, 'Secret "r1": data.releaseHistory: expected a string, got binary data'),
        ({HISTORY_KEY: "x", FLAG_KEY: True}, False, 'ConfigMap "r1": data.isReleaseHistoryCompressed: expected a str'),
        ("releaseHistory: x", False, 'ConfigMap "r1": data: expected a mapping'),
        ([HISTORY_KEY], True, 'Secret "r1": data: expected a mapping'),
    ],
)
def test_undecodable_values(data, secret, prefix):
    assert_one_line(format_error(data, secret), prefix)


def test_not_a_compressed_stream():
    message = format_error({HISTORY_KEY: base64.b64encode(b"releases: []").decode(), FLAG_KEY: "AQ=="}, secret=True)
    assert message == (
        'Secret "r1": data.releaseHistory: isReleaseHistoryCompressed is set but the value is not a complete zlib, '
        "gzip or raw deflate stream"
    )


@pytest.mark.parametrize("compressed", ["zlib", "gzip", "deflate"])
def test_truncated_stream(compressed):
    data = build_history_data(TWO_RELEASES, compressed, secret=False)
    blob = base64.b64decode(data[HISTORY_KEY])
    data[HISTORY_KEY] = base64.b64encode(blob[: len(blob) // 2]).decode()
    assert_one_line(format_error(data), 'ConfigMap "r1": data.releaseHistory: isReleaseHistoryCompressed is set')


def test_inflation_is_capped(monkeypatch):
    monkeypatch.setattr(harness_history, "MAX_INFLATED_BYTES", 1000)
    message = format_error(encode_history(" " * 1001, "zlib", secret=False))
    assert message == 'ConfigMap "r1": data.releaseHistory: inflates to more than 1000 bytes'


@pytest.mark.parametrize(
    ("data", "secret"),
    [
        (encode_history(b"releases: [\xff\xfe]", None, secret=True), True),
        (encode_history(b"\xc3\x28", "zlib", secret=False), False),
        (encode_history(b"version: v1\n\x80", "deflate", secret=True), True),
    ],
)
def test_non_utf8_payload(data, secret):
    kind = "Secret" if secret else "ConfigMap"
    assert_one_line(format_error(data, secret), f'{kind} "r1": data.releaseHistory: not valid UTF-8 (byte 0x')


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("version: v1\nreleases:\n  - number: 1\n   status: [\n", "line 4: expected <block end>"),
        ("releases: [1, 2\n", "line 2: "),
        ("a: 'unterminated\n", "line 2: "),
        ("releases:\n- number: 1\n  number: 2\n  ? [a]\n  : b\n", "line 4: found unhashable key"),
        ("releases: !!int {a: 1}\n", "line 1: "),
        ("a: \x07\n", "unacceptable character"),
        ("[" * 5000 + "]" * 5000, "RecursionError"),
    ],
    ids=["indent", "unclosed-flow", "unterminated-quote", "unhashable-key", "tag-on-wrong-node",
         "control-char", "deep-nesting"],
)
def test_bad_yaml(text, detail):
    message = format_error({HISTORY_KEY: text})
    assert_one_line(message, 'ConfigMap "r1": data.releaseHistory: not valid YAML (')
    assert detail in message
    assert len(message) < 250


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- number: 1\n", "data.releaseHistory: expected a YAML mapping with version and releases, got a list"),
        ("just text\n", "data.releaseHistory: expected a YAML mapping with version and releases, got a string"),
        ("releases: Deployment/web\n", "data.releaseHistory.releases: expected a list, got a string"),
        ("releases: {number: 1}\n", "data.releaseHistory.releases: expected a list, got a mapping"),
        ("releases: 3\n", "data.releaseHistory.releases: expected a list, got a string"),
    ],
)
def test_wrong_yaml_shapes(text, expected):
    assert format_error({HISTORY_KEY: text}) == f'ConfigMap "r1": {expected}'


def test_huge_hex_integers_do_not_break_messages():
    parsed = parse_yaml(f"version: 0x{'f' * 6000}\nreleases:\n- number: 0x{'f' * 6000}\n")
    assert parsed.releases == ()
    hex_text = repr("0x" + "f" * 55 + "...")  # read as the text written, quoted shortened
    assert parsed.warnings == (
        f"data.releaseHistory.version: {hex_text} is not v1; read as v1",
        f"data.releaseHistory.releases[0].number: missing or not a release number ({hex_text}); release skipped",
    )


# --- the rollback target (§4.2) -------------------------------------------------------------------------------------


def test_failed_release_rolls_back_to_newest_older_succeeded():
    plan = plan_rollback(history(rel(7, "Failed"), rel(6, "Failed"), rel(5, "InProgress"), rel(4, "Succeeded"),
                                 rel(3, "Succeeded")))
    assert (plan.current.number, plan.target.number) == (7, 4)
    assert plan.reason == "release 7 is Failed; release 4 is the newest Succeeded release"


def test_typical_history_after_cleanup():
    parsed = parse_releases([release_entry(9, "InProgress", [WEB]), release_entry(8, "Succeeded", [WEB])])
    plan = plan_rollback(parsed)
    assert plan == HarnessPlan(parsed.releases[0], parsed.releases[1], plan.reason)
    assert plan.reason == "release 9 is InProgress; release 8 is the newest Succeeded release"


def test_unknown_status_is_not_a_target():
    plan = plan_rollback(history(rel(3, "Unknown"), rel(2, "Unknown"), rel(1, "Succeeded")))
    assert plan.target.number == 1


def test_succeeded_newest_is_no_target_as_harness_skips_it_unless_forced_or_numbered():
    releases = history(rel(4, "Succeeded"), rel(3, "Failed"), rel(2, "Succeeded"))
    with pytest.raises(NoTargetError) as skipped:
        plan_rollback(releases)
    assert skipped.value.message == (
        'ConfigMap "r1": the newest release 4 Succeeded, so Harness\'s Rolling Rollback skips ("No failed release '
        'found"); to roll it back anyway, pass --release-number 4 or --force')
    forced = plan_rollback(releases, force=True)
    assert forced.target.number == 2 and forced.reason.startswith("--force: the newest release 4 Succeeded")
    numbered = plan_rollback(releases, release_number=4)
    assert (numbered.current.number, numbered.target.number) == (4, 2)
    assert numbered.reason == "--release-number 4: release 2 is the newest Succeeded release older"


@pytest.mark.parametrize("number, target", [(4, 2), (3, 2), (2, 1), (9, 2)])
def test_a_release_number_picks_the_newest_succeeded_release_older_than_it(number, target):
    releases = history(rel(4, "Failed"), rel(3, "InProgress"), rel(2, "Succeeded"), rel(1, "Succeeded"))
    assert plan_rollback(releases, release_number=number).target.number == target


@pytest.mark.parametrize("number", [4, 99])
def test_a_release_number_past_a_newest_release_that_succeeded_has_no_target(number):
    """Harness's rule would pick the live release 3 itself (and mark it Failed): no target, never release 2."""
    releases = history(rel(3, "Succeeded"), rel(2, "Succeeded"))
    with pytest.raises(NoTargetError, match=f"release {number} is not in the history; the newest Succeeded release "
                                            "older than it is release 3, the current one"):
        plan_rollback(releases, release_number=number)


def test_only_older_numbers_are_eligible():
    plan = plan_rollback(history(rel(4, "Failed"), rel(6, "Succeeded"), rel(4, "Succeeded"), rel(2, "Succeeded")))
    assert plan.target.number == 2


@pytest.mark.parametrize(
    ("releases", "message"),
    [
        ((), 'ConfigMap "r1": no release history found'),
        ((rel(1, "Failed"),), 'ConfigMap "r1": no previous Succeeded release older than release 1'),
        ((rel(1, "Succeeded"),), 'ConfigMap "r1": the newest release 1 Succeeded, so Harness\'s Rolling Rollback '
                                  'skips ("No failed release found"); to roll it back anyway, pass --release-number 1 '
                                  'or --force'),
        ((rel(3, "Failed"), rel(2, "Failed"), rel(1, "InProgress")),
         'ConfigMap "r1": no previous Succeeded release older than release 3'),
        ((rel(3, "Failed", ()), rel(2, "Succeeded")), 'ConfigMap "r1": no managed workload found in release 3'),
        ((rel(3, "Failed"), rel(2, "Succeeded", ())),
         'ConfigMap "r1": no managed workload found in release 2, the previous Succeeded release older than release 3'),
    ],
)
def test_no_target(releases, message):
    with pytest.raises(NoTargetError) as caught:
        plan_rollback(history(*releases))
    assert caught.value.message == message
    assert caught.value.exit_code == ExitCode.NO_TARGET


# --- properties: whatever the input, only HistoryFormatError comes out ----------------------------------------------

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=20)
NESTED = st.recursive(
    SCALARS.filter(lambda value: not isinstance(value, bytes)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
FIELD_NAMES = st.sampled_from(
    ["number", "status", "resources", "managedWorkloads", "managedWorkload", "managedWorkloadRevision", "workload",
     "revision", "kind", "name", "namespace", "customWorkloads", "version", "releases"]
)
# Values biased toward the right shape, so generated releases get past the first checks and into the deep ones.
FIELD_VALUES = st.recursive(
    SCALARS.filter(lambda value: not isinstance(value, bytes)) | st.sampled_from(["Succeeded", "Failed", "3", "web"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(FIELD_NAMES, children, max_size=5),
    max_leaves=25,
)
YAML_TOKENS = st.sampled_from(
    ["releases:", "version:", "number:", "- ", "  ", "\n", "{", "}", "[", "]", ",", ":", "&a ", "*a", "!!int ",
     "!!binary ", "!!python/name:os.system", "!foo ", "'", '"', "? ", "#", "---\n", "...\n", "<<: ", "0x1f",
     "2001-13-45", "1", "Succeeded", "\t", "|\n", ">\n", "%YAML 1.1\n", "\x00", "\ufeff", "é"]
)
YAML_LIKE = st.lists(YAML_TOKENS | st.text(max_size=5), max_size=40).map("".join)
DATA_KEYS = st.sampled_from([HISTORY_KEY, FLAG_KEY]) | st.text(max_size=10)
DATA_VALUES = SCALARS | st.sampled_from(["true", "AQ==", "", "Zm9v"]) | NESTED
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse_or_format_error(data, secret):
    """Parse; a HistoryFormatError is an acceptable outcome, anything else escapes and fails the test."""
    try:
        parsed = parse(data, secret)
    except HistoryFormatError as error:
        assert_one_line(error.message, f'{"Secret" if secret else "ConfigMap"} "r1": data')
        return None
    assert all(isinstance(release, Release) for release in parsed.releases)
    assert all("\n" not in warning for warning in parsed.warnings)
    return parsed


def plan_or_no_target(parsed):
    if parsed is None:
        return
    try:
        plan = plan_rollback(parsed)
    except NoTargetError:
        return
    assert plan.target.status == "Succeeded" and plan.target.number < plan.current.number


@PROPERTY_SETTINGS
@given(data=st.none() | NESTED | st.dictionaries(DATA_KEYS, DATA_VALUES, max_size=4), secret=st.booleans())
def test_any_data_dict(data, secret):
    parse_or_format_error(data, secret)


@PROPERTY_SETTINGS
@given(text=st.text() | YAML_LIKE, flag=st.sampled_from([None, "true", "AQ==", "false"]), secret=st.booleans())
def test_any_text_as_the_stored_value(text, flag, secret):
    data = {HISTORY_KEY: text} if flag is None else {HISTORY_KEY: text, FLAG_KEY: flag}
    plan_or_no_target(parse_or_format_error(data, secret))


@PROPERTY_SETTINGS
@given(
    payload=st.binary() | YAML_LIKE.map(str.encode),
    compressed=st.sampled_from(ENCODINGS),
    configmap_compressed=st.booleans(),
)
def test_any_bytes_as_the_payload(payload, compressed, configmap_compressed):
    if configmap_compressed:  # a ConfigMap can carry raw bytes only inside the compressed form
        data, secret = encode_history(payload, compressed or "zlib", secret=False), False
    else:
        data, secret = encode_history(payload, compressed, secret=True), True
    plan_or_no_target(parse_or_format_error(data, secret))


@PROPERTY_SETTINGS
@given(document=NESTED | FIELD_VALUES, compressed=st.sampled_from(ENCODINGS), secret=st.booleans())
def test_any_yaml_document(document, compressed, secret):
    data = encode_history(yaml.safe_dump(document), compressed, secret)
    plan_or_no_target(parse_or_format_error(data, secret))


REF_LIKE = st.fixed_dictionaries(
    {}, optional={"kind": st.just("Deployment") | FIELD_VALUES, "name": st.just("web") | FIELD_VALUES,
                  "namespace": FIELD_VALUES, "versioned": FIELD_VALUES},
)
WORKLOAD_ITEM_LIKE = st.fixed_dictionaries({}, optional={"workload": REF_LIKE | FIELD_VALUES, "revision": FIELD_VALUES})
# Each field is usually right and sometimes anything, so most releases get far enough to exercise every field check.
RELEASE_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "number": st.integers(min_value=-1, max_value=9) | FIELD_VALUES,
        "status": st.sampled_from(["Succeeded", "Failed", "InProgress", "succeeded"]) | FIELD_VALUES,
        "resources": st.lists(REF_LIKE | FIELD_VALUES, max_size=3) | FIELD_VALUES,
        "managedWorkloads": st.lists(WORKLOAD_ITEM_LIKE | FIELD_VALUES, max_size=3) | FIELD_VALUES,
        "managedWorkload": REF_LIKE | FIELD_VALUES,
        "managedWorkloadRevision": FIELD_VALUES,
        "customWorkloads": FIELD_VALUES,
    },
)


@PROPERTY_SETTINGS
@given(releases=st.lists(RELEASE_LIKE | FIELD_VALUES, max_size=5), compressed=st.sampled_from(ENCODINGS),
       secret=st.booleans())
def test_any_release_entries(releases, compressed, secret):
    plan_or_no_target(parse_or_format_error(build_history_data(releases, compressed, secret), secret))


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=200), wbits=st.sampled_from([zlib.MAX_WBITS, 31, -zlib.MAX_WBITS]))
def test_any_bytes_inflated_or_not(data, wbits):
    """Bytes that happen to be, or to resemble, each compressed wrapper."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    blob = compressor.compress(data) + compressor.flush()
    for candidate in (blob, blob[:-1], data + blob, blob + data):
        parse_or_format_error({HISTORY_KEY: base64.b64encode(candidate).decode(), FLAG_KEY: "AQ=="}, secret=True)


RELEASES = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=10**6),
        st.sampled_from(["Succeeded", "Failed", "InProgress"]),
        st.lists(
            st.tuples(
                st.sampled_from(["Deployment", "StatefulSet", "DaemonSet"]),
                st.text(alphabet="abcdefghij-", min_size=1, max_size=12),
                st.integers(min_value=1, max_value=10**6),
            ),
            max_size=3,
        ),
    ),
    max_size=6,
    unique_by=lambda release: release[0],
).map(lambda releases: sorted(releases, reverse=True))


@PROPERTY_SETTINGS
@given(releases=RELEASES, compressed=st.sampled_from(ENCODINGS), secret=st.booleans())
def test_well_formed_history_round_trips_and_plans_like_harness(releases, compressed, secret):
    entries = [
        release_entry(number, status, [workload_entry(kind, name, "ns", str(rev)) for kind, name, rev in workloads])
        for number, status, workloads in releases
    ]
    parsed = parse(build_history_data(entries, compressed, secret), secret)
    assert parsed.warnings == ()
    assert [(r.number, r.status, [(w.kind, w.name, w.revision) for w in r.workloads]) for r in parsed.releases] == [
        (number, status, list(workloads)) for number, status, workloads in releases
    ]
    eligible = [r for r in parsed.releases[1:] if r.status == "Succeeded"]
    try:
        plan = plan_rollback(parsed)
    except NoTargetError:
        assert (not parsed.releases or not parsed.releases[0].workloads or parsed.releases[0].status == "Succeeded"
                or not eligible or not eligible[0].workloads)
        return
    assert plan.target == eligible[0]



@pytest.mark.parametrize(
    "payload",
    [
        "releases: *MARKER_SECRET\n",
        "releases:\n- number: !!int MARKER_SECRET\n  status: Failed\n",
        "releases:\n- number: 1\n  status: MARKER_SECRET\n",
        "releases: [MARKER_SECRET\n",
    ],
)
def test_a_secret_history_is_never_quoted(payload):
    """What a Secret holds must not reach stderr, even when it is not valid history."""
    from kubectl_rollback.harness_history import HistoryFormatError, parse_history

    data = {HISTORY_KEY: base64.b64encode(payload.encode()).decode()}
    try:
        history = parse_history("Secret", "r1", data, is_secret=True)
    except HistoryFormatError as exc:
        assert "MARKER_SECRET" not in exc.message and 'Secret "r1"' in exc.message
    else:
        assert not any("MARKER_SECRET" in w for w in history.warnings) and history.warnings
