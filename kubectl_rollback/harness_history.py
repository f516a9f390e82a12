"""Harness's legacy release history (harness-behaviour.md §2.1), parsed into plain data, and the rollback target
Harness's legacy Rolling Rollback would choose from it (§4.2).

Pure: no API calls. `parse_history` takes the `data` of the ConfigMap (or same-named Secret) that holds the history
and returns frozen dataclasses; whatever that data holds, the only exception it raises is `HistoryFormatError`, so a
corrupt or foreign object can never crash the CLI. Damage confined to one release or one list entry is skipped and
reported in `ReleaseHistory.warnings` instead, because the rest of the history is still usable.
"""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import re
import zlib
from typing import Any, List, Optional, Union

import yaml

from kubectl_rollback.errors import NoTargetError, RollbackError

HISTORY_KEY = "releaseHistory"
COMPRESSED_FLAG_KEY = "isReleaseHistoryCompressed"
SUCCEEDED = "Succeeded"
UNKNOWN = "Unknown"
_STATUS_BY_LOWER = {status.lower(): status for status in (SUCCEEDED, "Failed", "InProgress", UNKNOWN)}
# A ConfigMap or Secret holds at most 1 MiB and YAML does not deflate 64-fold in practice, so anything inflating past
# this is not a history Harness wrote; refusing it keeps a crafted object from exhausting memory.
MAX_INFLATED_BYTES = 64 * 1024 * 1024
# Java's Deflater writes a zlib stream, but the wrapper is unverified (§2.1), so gzip and raw deflate are tried too.
_INFLATE_WBITS = (zlib.MAX_WBITS, 16 + zlib.MAX_WBITS, -zlib.MAX_WBITS)
# ASCII digits only, and few enough that int() can neither fail on its digit limit nor build absurd numbers.
_NUMBER = re.compile(r"[0-9]{1,18}")
_NUMBER_LIMIT = 10**18
_FIELD = f"data.{HISTORY_KEY}"
# Set while a Secret is parsed: then no message quotes its content.
_REDACT: contextvars.ContextVar = contextvars.ContextVar("redact_history_content", default=False)


class HistoryFormatError(RollbackError):
    """The history object cannot be read at all; the message is one line naming the object and the field."""

    def __init__(self, message: str):
        # Messages quote fragments of untrusted input; collapsing whitespace keeps the CLI's one-line promise.
        super().__init__(" ".join(message.split()))


@dataclasses.dataclass(frozen=True)
class ManagedWorkload:
    kind: str
    name: str
    namespace: Optional[str]
    revision: Optional[int]  # the workload's Kubernetes revision when the release was deployed; None if not recorded


@dataclasses.dataclass(frozen=True)
class Release:
    number: int
    status: str  # Succeeded, Failed, InProgress or Unknown
    workloads: tuple  # of ManagedWorkload
    resources: tuple  # of str: "Kind/namespace/name", or "Kind/name" when the namespace is not recorded


@dataclasses.dataclass(frozen=True)
class ReleaseHistory:
    source: str  # the object read, e.g. 'ConfigMap "release-abc"'
    releases: tuple  # of Release, newest first as stored
    warnings: tuple  # of str: what was skipped or guessed while parsing


@dataclasses.dataclass(frozen=True)
class HarnessPlan:
    current: Release
    target: Release
    reason: str


def parse_history(object_kind: str, object_name: str, data: Any, is_secret: bool) -> ReleaseHistory:
    """Read the history stored in `data` (a ConfigMap's data, or a Secret's with base64 values). For a Secret, no
    message quotes what it holds: errors and warnings name the place and the kind of problem only."""
    token = _REDACT.set(is_secret)
    try:
        return _parse_history(object_kind, object_name, data, is_secret)
    finally:
        _REDACT.reset(token)


def _parse_history(object_kind: str, object_name: str, data: Any, is_secret: bool) -> ReleaseHistory:
    source = f'{object_kind} "{object_name}"'
    if data is None:  # the API omits `data` on an object that has none
        data = {}
    if not isinstance(data, dict):
        raise HistoryFormatError(f"{source}: data: expected a mapping of keys to strings, got {_type_name(data)}")
    raw = data.get(HISTORY_KEY)
    if raw is None or raw == "":
        # Harness treats a missing or empty value as "no history yet" (§4.2 step 1), not as corruption.
        return ReleaseHistory(source, (), (f"{_FIELD} is missing or empty: no release history",))
    payload = _read_value(source, HISTORY_KEY, raw, is_secret)
    if _is_compressed(source, data.get(COMPRESSED_FLAG_KEY), is_secret):
        # A Secret's value is already the compressed bytes; a ConfigMap can only hold text, so it adds base64.
        blob = payload if isinstance(payload, bytes) else _b64decode(source, HISTORY_KEY, payload)
        payload = _inflate(source, blob)
    document = _load_yaml(source, _utf8(source, payload))
    return _history_from_document(source, document)


def plan_rollback(history: ReleaseHistory) -> HarnessPlan:
    """The release to roll back to, chosen as Harness's legacy Rolling Rollback does when given no release number.

    Harness skips when the newest release Succeeded ("No failed release found"); a manual tool is asked for exactly
    that case, so it goes on to the previous Succeeded release and says so in `reason`. Every case where Harness
    would silently do nothing raises NoTargetError instead.
    """
    if not history.releases:
        raise NoTargetError(f"{history.source}: no release history found")
    current = history.releases[0]
    if not current.workloads:
        raise NoTargetError(f"{history.source}: no managed workload found in release {current.number}")
    target = next((r for r in history.releases if r.number < current.number and r.status == SUCCEEDED), None)
    if target is None:
        raise NoTargetError(f"{history.source}: no previous Succeeded release older than release {current.number}")
    if not target.workloads:
        raise NoTargetError(
            f"{history.source}: no managed workload found in release {target.number}, "
            f"the previous Succeeded release older than release {current.number}"
        )
    return HarnessPlan(current, target, _reason(current, target))


def _reason(current: Release, target: Release) -> str:
    if current.status == SUCCEEDED:
        return (
            f"the newest release {current.number} Succeeded (Harness's Rolling Rollback would skip: "
            f'"No failed release found"); release {target.number} is the previous Succeeded release'
        )
    return f"release {current.number} is {current.status}; release {target.number} is the newest Succeeded release"


# --- decoding the stored value ---------------------------------------------------------------------------------------


def _read_value(source: str, key: str, value: Any, is_secret: bool) -> Union[str, bytes]:
    """A data value as stored: text for a ConfigMap, the base64-decoded bytes for a Secret."""
    if not isinstance(value, str):
        raise HistoryFormatError(f"{source}: data.{key}: expected a string, got {_type_name(value)}")
    return _b64decode(source, key, value) if is_secret else value


def _is_compressed(source: str, flag: Any, is_secret: bool) -> bool:
    """The flag is the text "true" in a ConfigMap and the single byte 0x01 in a Secret (§2.1)."""
    if flag is None:
        return False
    value = _read_value(source, COMPRESSED_FLAG_KEY, flag, is_secret)
    if isinstance(value, bytes):
        # "true" too: a hand-made Secret is likelier to copy the ConfigMap's spelling than to mean "not compressed".
        return value == b"\x01" or value.strip().lower() == b"true"
    return value.strip().lower() == "true"


def _b64decode(source: str, key: str, text: str) -> bytes:
    try:
        # Line breaks are tolerated because tools that wrap base64 output (openssl, `base64` without -w0) insert them.
        return base64.b64decode("".join(text.split()), validate=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII characters in the text
        raise HistoryFormatError(f"{source}: data.{key}: not valid base64 ({exc})") from None


def _inflate(source: str, blob: bytes) -> bytes:
    for wbits in _INFLATE_WBITS:
        inflated = _inflate_with(source, blob, wbits)
        if inflated is not None:
            return inflated
    raise HistoryFormatError(
        f"{source}: {_FIELD}: {COMPRESSED_FLAG_KEY} is set but the value is not a complete zlib, gzip "
        f"or raw deflate stream"
    )


def _inflate_with(source: str, blob: bytes, wbits: int) -> Optional[bytes]:
    """The inflated bytes, or None when `blob` is not a complete stream in this wrapper."""
    inflater = zlib.decompressobj(wbits)
    try:
        inflated = inflater.decompress(blob, MAX_INFLATED_BYTES + 1)
    except zlib.error:
        return None
    if len(inflated) > MAX_INFLATED_BYTES:
        raise HistoryFormatError(f"{source}: {_FIELD}: inflates to more than {MAX_INFLATED_BYTES} bytes")
    # A stream cut short inflates without error but never reaches its end marker.
    return inflated if inflater.eof else None


def _utf8(source: str, payload: Union[str, bytes]) -> str:
    if isinstance(payload, str):
        return payload
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HistoryFormatError(
            f"{source}: {_FIELD}: not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from None


# --- YAML ---------------------------------------------------------------------------------------------------------


class _HistoryLoader(yaml.SafeLoader):
    """SafeLoader that builds plain data for tags it does not know instead of failing.

    Harness serialises Java beans and may tag them (`!!io.harness...`); the tag carries nothing we need. Objects are
    never instantiated from tags, so this is exactly as safe as yaml.safe_load.
    """


def _construct_untagged(loader: _HistoryLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_yaml_map(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_yaml_seq(node)
    assert isinstance(node, yaml.ScalarNode)  # the third and last kind of node
    return loader.construct_scalar(node)


_HistoryLoader.add_constructor(None, _construct_untagged)


def _load_yaml(source: str, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_HistoryLoader)
    # Not only YAMLError: scalar constructors raise ValueError (e.g. the date 2001-13-45) and deep nesting raises
    # RecursionError, and a bad history must never surface as anything but HistoryFormatError.
    except Exception as exc:
        raise HistoryFormatError(f"{source}: {_FIELD}: not valid YAML ({_describe_yaml_error(exc)})") from None


def _describe_yaml_error(exc: Exception) -> str:
    redact = _REDACT.get()
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        # PyYAML's problem text can quote the document (alias names, tags); a Secret's must not be echoed.
        problem = "syntax error" if redact else (exc.problem or exc.context or "syntax error")
        return _shorten(f"line {mark.line + 1}: {problem}" if mark else problem)
    return type(exc).__name__ if redact else _shorten(f"{type(exc).__name__}: {exc}")


# --- the YAML model (§2.1.1) ---------------------------------------------------------------------------------------


def _history_from_document(source: str, document: Any) -> ReleaseHistory:
    if document is None:
        return ReleaseHistory(source, (), (f"{_FIELD} is an empty YAML document: no release history",))
    if not isinstance(document, dict):
        raise HistoryFormatError(
            f"{source}: {_FIELD}: expected a YAML mapping with version and releases, got {_type_name(document)}"
        )
    warnings: List[str] = []
    version = document.get("version")
    if version is not None and version != "v1":
        warnings.append(f"{_FIELD}.version: {_quote(version)} is not v1; read as v1")
    entries = document.get("releases")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise HistoryFormatError(f"{source}: {_FIELD}.releases: expected a list, got {_type_name(entries)}")
    releases = [
        release
        for index, entry in enumerate(entries)
        if (release := _release(f"{_FIELD}.releases[{index}]", entry, warnings)) is not None
    ]
    numbers = [release.number for release in releases]
    if any(newer <= older for newer, older in zip(numbers, numbers[1:])):
        warnings.append(
            f"{_FIELD}.releases: numbers {_shorten(str(numbers))} are not newest first; "
            f"the first entry is still taken as the current release, as Harness does"
        )
    return ReleaseHistory(source, tuple(releases), tuple(warnings))


def _release(path: str, entry: Any, warnings: List[str]) -> Optional[Release]:
    if not isinstance(entry, dict):
        warnings.append(f"{path}: expected a mapping, got {_type_name(entry)}; release skipped")
        return None
    number = _as_number(entry.get("number"))
    if number is None:
        warnings.append(f"{path}.number: missing or not a release number ({_quote(entry.get('number'))}); "
                        f"release skipped")
        return None
    custom = entry.get("customWorkloads")
    if isinstance(custom, list) and custom:
        # Harness redeploys these from their stored specs (§4.2 step 5); they are not undone like native workloads.
        warnings.append(f"{path}.customWorkloads: release {number} has {len(custom)} custom workload(s), "
                        f"which are not rolled back with kubectl rollout undo")
    return Release(
        number=number,
        status=_status(f"{path}.status", entry.get("status"), warnings),
        workloads=_workloads(path, entry, warnings),
        resources=_resource_ids(f"{path}.resources", entry.get("resources"), warnings),
    )


def _status(path: str, value: Any, warnings: List[str]) -> str:
    status = _STATUS_BY_LOWER.get(value.strip().lower()) if isinstance(value, str) else None
    if status is None:
        warnings.append(f"{path}: {_quote(value)} is not a known status; read as {UNKNOWN}")
        return UNKNOWN
    return status


def _workloads(path: str, entry: dict, warnings: List[str]) -> tuple:
    """`managedWorkloads` when it lists any, else the older single `managedWorkload` + `managedWorkloadRevision`."""
    many = entry.get("managedWorkloads")
    if isinstance(many, list) and many:
        listed = (_listed_workload(f"{path}.managedWorkloads[{i}]", item, warnings) for i, item in enumerate(many))
        return tuple(workload for workload in listed if workload is not None)
    if many is not None and not isinstance(many, list):
        warnings.append(f"{path}.managedWorkloads: expected a list, got {_type_name(many)}; ignored")
    single = entry.get("managedWorkload")
    if single is None:
        return ()
    workload = _workload(
        f"{path}.managedWorkload", single, entry.get("managedWorkloadRevision"), f"{path}.managedWorkloadRevision",
        warnings,
    )
    return () if workload is None else (workload,)


def _listed_workload(path: str, item: Any, warnings: List[str]) -> Optional[ManagedWorkload]:
    if not isinstance(item, dict):
        warnings.append(f"{path}: expected a mapping with workload and revision, got {_type_name(item)}; skipped")
        return None
    return _workload(f"{path}.workload", item.get("workload"), item.get("revision"), f"{path}.revision", warnings)


def _workload(path: str, ref: Any, revision: Any, revision_path: str, warnings: List[str]) -> Optional[ManagedWorkload]:
    kind, name, namespace = _kind_name_namespace(ref)
    if not kind or not name:
        warnings.append(f"{path}: expected a mapping with kind and name; workload skipped")
        return None
    number = _as_number(revision)
    if number is None and revision not in (None, ""):
        warnings.append(f"{revision_path}: {_quote(revision)} is not a revision number; read as unknown")
    return ManagedWorkload(kind, name, namespace, number)


def _resource_ids(path: str, value: Any, warnings: List[str]) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, list):
        warnings.append(f"{path}: expected a list, got {_type_name(value)}; ignored")
        return ()
    ids = [resource_id for resource_id in map(_resource_id, value) if resource_id is not None]
    if len(ids) < len(value):
        # One summary, not one line per entry: resources are informational and a release can list hundreds.
        warnings.append(f"{path}: {len(value) - len(ids)} of {len(value)} entries lack a kind and name; skipped")
    return tuple(ids)


def _resource_id(ref: Any) -> Optional[str]:
    kind, name, namespace = _kind_name_namespace(ref)
    if not kind or not name:
        return None
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def _kind_name_namespace(ref: Any) -> tuple:
    """The fields of a KubernetesResourceId mapping ({kind, name, namespace, versioned}); None for each one absent."""
    if not isinstance(ref, dict):
        return None, None, None
    return _text(ref.get("kind")), _text(ref.get("name")), _text(ref.get("namespace"))


# --- scalars -------------------------------------------------------------------------------------------------------


def _as_number(value: Any) -> Optional[int]:
    """A release or revision number: a non-negative int, or a string of digits (Harness stores revisions as text)."""
    if isinstance(value, bool):  # bool is an int subclass, and `true` is no number
        return None
    if isinstance(value, int):
        return value if 0 <= value < _NUMBER_LIMIT else None
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _text(value: Any) -> Optional[str]:
    """A name-like field; YAML reads an all-digit name such as 123 as an int, which is still a valid name."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < _NUMBER_LIMIT:
        return str(value)
    return None


def _quote(value: Any) -> str:
    """A short, safe rendering of a bad value for a message: repr() of a whole structure could be huge, and repr() of
    an int with thousands of digits (YAML reads hex of any length) raises ValueError. Inside a Secret, only the
    kind of value."""
    if _REDACT.get():
        return _type_name(value)
    if isinstance(value, str):
        return repr(_shorten(value, 60))
    if isinstance(value, (bool, float, type(None))) or (isinstance(value, int) and abs(value) < _NUMBER_LIMIT):
        return repr(value)
    return _type_name(value)


_TYPE_NAMES = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
               float: "a number", bytes: "binary data", type(None): "null"}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
