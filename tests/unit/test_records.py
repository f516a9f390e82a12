"""Parsing the versioning annotations: lenient, never raising, warning about what it ignores."""

from hypothesis import given
from hypothesis import strategies as st

from kubectl_rollback import records
from kubectl_rollback.records import InfraMapping, Record, Status, parse_record, read_record, record_annotations

ON = records.written_on("ReplicaSet", "web-5d8f7c9b6", "uid-1")


def test_round_trip():
    annotations = record_annotations(
        Status.SUCCEEDED, "wf1", InfraMapping("svc", "infra", "c1", "ns"), "2026-01-01T00:00:00Z", ON, "42", "nginx:1"
    )
    record = parse_record(annotations)
    assert record == Record(
        Status.SUCCEEDED, "wf1", "svc", "infra", "c1", "42", "nginx:1", "2026-01-01T00:00:00Z"
    )


def test_status_is_case_insensitive():
    assert parse_record({records.STATUS: "succeeded"}).status is Status.SUCCEEDED


def test_garbage_status_is_unknown_with_warning():
    record = parse_record({records.STATUS: "Maybe", records.WORKFLOW_ID: "wf1"})
    assert record.status is Status.UNKNOWN
    assert "not Succeeded, Failed or InProgress" in record.warnings[0]
    assert record.workflow_id == "wf1"


def test_huge_and_wrongly_typed_values_are_ignored():
    record = parse_record({records.WORKFLOW_ID: "x" * 5000, records.SERVICE_ID: 7, records.INFRA_ID: "a\x00b"})
    assert (record.workflow_id, record.service_id, record.infra_id) == (None, None, None)
    assert len(record.warnings) == 3


def test_a_succeeded_record_with_any_damaged_field_is_unknown():
    good = record_annotations(Status.SUCCEEDED, "wf1", InfraMapping("svc", "infra", "c1", "ns"),
                              "2026-01-01T00:00:00Z", ON, "1.8.2-rc1", "nginx:1")
    assert parse_record(good).status is Status.SUCCEEDED and parse_record(good).warnings == ()
    for key, damage in ((records.WORKFLOW_ID, "w" * 120_000), (records.RECORDED_AT, "9999-99-99"),
                        (records.RELEASE_NUMBER, "-1e309"), (records.ROLLED_BACK_AT, "yesterday"),
                        (records.ROLLED_BACK_FROM, "2; DROP"), (records.SERVICE_ID, 7)):
        record = parse_record(dict(good, **{key: damage}))
        assert record.status is Status.UNKNOWN, key
        assert record.warnings[-1] == ("the record says Succeeded, but a damaged record is not trusted; shown as "
                                       "Unknown"), key
        assert key in record.warnings[0]


def test_no_annotations():
    assert parse_record(None) == Record()
    assert not parse_record({}).recorded


def test_optional_fields_are_removed_when_absent():
    annotations = record_annotations(Status.FAILED, "wf", InfraMapping("s", "i", "c", "n"), "t", ON)
    assert annotations[records.RELEASE_NUMBER] is None and annotations[records.ARTIFACT] is None


@given(st.dictionaries(st.one_of(st.text(), st.integers()), st.one_of(st.none(), st.text(), st.integers(),
       st.binary(), st.lists(st.text()), st.floats())))
def test_never_raises_on_arbitrary_annotations(annotations):
    record = parse_record(annotations)
    assert isinstance(record.status, Status)


@given(st.one_of(st.none(), st.text(), st.integers(), st.lists(st.integers())))
def test_never_raises_on_arbitrary_objects(value):
    assert parse_record(value).status is Status.UNKNOWN


def test_an_audit_copied_from_another_revision_object_is_not_read_and_a_workload_may_carry_it():
    audit = {records.ROLLED_BACK_FROM: "3", records.ROLLED_BACK_AT: "2026-12-07T02:10:35Z",
             records.ROLLED_BACK_ON: "web-5d9c"}
    assert parse_record(records.own_annotations("web-5d9c", audit)).rolled_back_from == "3"
    assert parse_record(records.own_annotations("web-7f00", audit)).rolled_back_from is None
    assert records.copied_audit(audit) == records.AUDIT_KEYS
    assert records.copied_audit({records.ROLLED_BACK_FROM: "3"}) == ()  # no rolled-back-on: not known as a copy


def test_a_record_is_read_only_on_the_object_it_was_written_on():
    """`kubectl rollout undo` copies a ReplicaSet's record onto the Deployment, and its controller onto the next
    ReplicaSet (issue 27): there, recorded-on names another object, so it is a copy, not a record."""
    annotations = record_annotations(Status.SUCCEEDED, "wf1", InfraMapping("s", "i", "c", "n"),
                                     "2026-01-01T00:00:00Z", ON)
    assert read_record(ON, annotations).status is Status.SUCCEEDED
    for elsewhere in (records.written_on("ReplicaSet", "web-7c6b5d4f3", "uid-2"),
                      records.written_on("ReplicaSet", "web-5d8f7c9b6", "uid-3")):  # the same name, created again
        copy = read_record(elsewhere, annotations)
        assert copy.status is Status.UNKNOWN and not copy.recorded and copy.copied_from == ON
        assert "copy of the record of ReplicaSet web-5d8f7c9b6" in (copy.status_reason or "")
    older = {key: value for key, value in annotations.items() if key != records.RECORDED_ON}
    assert read_record(ON, older).status is Status.SUCCEEDED  # written before recorded-on existed: read as before
