"""Harness's release history (harness-behaviour.md §2), parsed into plain data, and the rollback target Harness's
Rolling Rollback would choose from it (§4.2, §4.3).

Two formats: the legacy history (one ConfigMap or Secret named after the release, §2.1: `parse_history`) and the
declarative one (one Secret per release, `harness.release.<R>.<n>`, §2.2: `parse_declarative`).

Pure: no API calls. Whatever the stored data holds, the only exception raised is `HistoryFormatError`, so a corrupt
or foreign object can never crash the CLI. Damage confined to one release or one list entry is skipped and reported
in `ReleaseHistory.warnings` instead, because the rest of the history is still usable.

Harness writes the legacy YAML with YamlBeans, every string a plain unquoted scalar, and reads it back into typed
Java fields. A YAML 1.1 resolver would turn a workload named `0123`, `on` or `null` into 83, True or None, so the
history is read with a resolver that resolves nothing (`_TextLoader`: every scalar is the text written) and each
field of the model is converted by what it is (numbers by `_as_number`, statuses by `_status`, names kept as text).
"""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import functools
import re
import struct
import zlib
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

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
# Harness compresses with the JDK's GZIPOutputStream at level 9 (§2.1, re-checked); zlib and raw deflate are accepted
# as fallbacks for hand-made or older objects.
_INFLATE_WBITS = (16 + zlib.MAX_WBITS, zlib.MAX_WBITS, -zlib.MAX_WBITS)
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


LEGACY = "legacy"
DECLARATIVE = "declarative"
# Kinds Harness tracks as managed workloads (§0); any other kind is one only when annotated as a custom workload.
NATIVE_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "DeploymentConfig")
MANAGED_WORKLOAD_ANNOTATION = "harness.io/managed-workload"
# The declarative release Secrets (§2.2)
RELEASE_SECRET_TYPE = "harness.io/release/v2"
RELEASE_DATA_KEY = "release"
RELEASE_NUMBER_LABEL = "release-number"
STATUS_LABEL = "status"
BG_ENVIRONMENT_LABEL = "harness.io/bg-environment"


@dataclasses.dataclass(frozen=True)
class Origin:
    """The object a release is stored in: what Harness's book-keeping after a rollback writes."""

    kind: str  # ConfigMap or Secret
    name: str
    declarative: bool  # a release Secret (its status is a label) rather than a legacy history (status in its YAML)


@dataclasses.dataclass(frozen=True)
class ManagedWorkload:
    kind: str
    name: str
    namespace: Optional[str]
    revision: Optional[int]  # the workload's Kubernetes revision when the release was deployed; None if not recorded
    custom: bool = False  # a custom (CRD) workload: re-applied from its stored spec, never undone


@dataclasses.dataclass(frozen=True)
class Release:
    number: int
    status: str  # Succeeded, Failed, InProgress or Unknown
    workloads: tuple  # of ManagedWorkload, custom ones included
    resources: tuple  # of str: "Kind/namespace/name", or "Kind/name" when the namespace is not recorded
    # The stored objects a rollback to this release re-applies: every manifest of a declarative release, the
    # customWorkloads specs of a legacy one.
    specs: tuple = ()
    bg_environment: Optional[str] = None  # primary | stage: a Blue/Green release
    origin: Optional[Origin] = dataclasses.field(default=None, compare=False)  # where it is stored

    @property
    def native_workloads(self) -> tuple:
        return tuple(w for w in self.workloads if not w.custom)


@dataclasses.dataclass(frozen=True)
class ReleaseHistory:
    source: str  # the object(s) read, e.g. 'ConfigMap "release-abc"'
    releases: tuple  # of Release, newest first as stored
    warnings: tuple  # of str: what was skipped or guessed while parsing
    kind: str = LEGACY  # LEGACY or DECLARATIVE
    why: str = ""  # why Harness reads this source (set by the lookup)

    @property
    def is_blue_green(self) -> bool:
        return any(r.bg_environment for r in self.releases)

    def numbers(self) -> str:
        """The release numbers held, for a message: "1-3", "4", or "no releases"."""
        numbers = sorted(r.number for r in self.releases)
        if not numbers:
            return "no releases"
        return f"release {numbers[0]}" if len(numbers) == 1 else f"releases {numbers[0]}-{numbers[-1]}"


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
    text, _ = _decode(source, raw, data, is_secret)
    # Specs stored inside the history (customWorkloads) are manifests: they are read again with a manifest's types.
    history = _history_from_document(source, _load_yaml(source, text),
                                     lambda: _load_yaml(source, text, _ManifestLoader))
    origin = Origin(object_kind, object_name, declarative=False)
    return dataclasses.replace(history, releases=tuple(dataclasses.replace(r, origin=origin)
                                                       for r in history.releases))


def _decode(source: str, raw: Any, data: dict, is_secret: bool) -> Tuple[str, Optional[int]]:
    """The history's YAML text, and the wbits of the compression it was stored with (None: plain)."""
    payload = _read_value(source, HISTORY_KEY, raw, is_secret)
    wbits = None
    if _is_compressed(source, data.get(COMPRESSED_FLAG_KEY), is_secret):
        # A Secret's value is already the compressed bytes; a ConfigMap can only hold text, so it adds base64.
        blob = payload if isinstance(payload, bytes) else _b64decode(source, HISTORY_KEY, payload)
        payload, wbits = _inflate_detecting(source, blob)
    return _utf8(source, payload), wbits


def parse_declarative(release_name: str, secrets: List[dict]) -> ReleaseHistory:
    """The releases of RELEASE_NAME from its declarative release Secrets (§2.2), newest first. A Secret that cannot
    be read is skipped with a warning naming it; no message quotes what a Secret holds."""
    token = _REDACT.set(True)
    try:
        warnings: List[str] = []
        releases = [r for secret in secrets if (r := _declarative_release(secret, warnings)) is not None]
        releases.sort(key=lambda r: r.number, reverse=True)
        source = f'declarative release Secrets "harness.release.{release_name}.<n>"'
        return ReleaseHistory(source, tuple(releases), tuple(warnings), DECLARATIVE)
    finally:
        _REDACT.reset(token)


def _declarative_release(secret: dict, warnings: List[str]) -> Optional[Release]:
    metadata = secret.get("metadata") or {}
    name = metadata.get("name", "?")
    source = f'Secret "{name}"'
    labels = metadata.get("labels") or {}
    # The label is what Harness selects on; the name's suffix is the same number, used when the label is missing.
    number = _as_number(labels.get(RELEASE_NUMBER_LABEL)) or _as_number(str(name).rsplit(".", 1)[-1])
    if number is None:
        warnings.append(f"{source}: no release number in label {RELEASE_NUMBER_LABEL} or the name; skipped")
        return None
    field = f"data.{RELEASE_DATA_KEY}"
    try:
        raw = (secret.get("data") or {}).get(RELEASE_DATA_KEY)
        if not raw:
            raise HistoryFormatError(f"{source}: {field} is missing or empty")
        text = _utf8(source, _inflate(source, _b64decode(source, RELEASE_DATA_KEY, raw)))
        manifests = _load_manifests(source, text, field)
    except HistoryFormatError as exc:
        warnings.append(f"{exc.message}; release {number} skipped")
        return None
    objects = tuple(m for m in manifests if _is_object(m))
    if len(objects) < len(manifests):
        warnings.append(f"{source}: {field}: {len(manifests) - len(objects)} document(s) are not objects with "
                        f"apiVersion, kind and metadata.name; not re-applied")
    return Release(
        number=number,
        status=_status(f"{source}: label {STATUS_LABEL}", labels.get(STATUS_LABEL), warnings),
        workloads=tuple(w for w in map(_manifest_workload, objects) if w is not None),
        resources=tuple(_resource_id(_manifest_ref(m)) for m in objects),
        specs=objects,
        bg_environment=labels.get(BG_ENVIRONMENT_LABEL) or None,
        origin=Origin("Secret", str(name), declarative=True),
    )


def _manifest_ref(manifest: dict) -> dict:
    metadata = manifest["metadata"]
    return {"kind": manifest["kind"], "name": metadata["name"], "namespace": metadata.get("namespace")}


def _manifest_workload(manifest: dict) -> Optional[ManagedWorkload]:
    """A managed workload of the manifests: a native workload kind, or any object marked as a custom workload. Harness
    records no revision for a declarative release."""
    annotations = manifest["metadata"].get("annotations") or {}
    custom = str(annotations.get(MANAGED_WORKLOAD_ANNOTATION, "")).lower() == "true"
    if manifest["kind"] not in NATIVE_WORKLOAD_KINDS and not custom:
        return None
    ref = _manifest_ref(manifest)
    return ManagedWorkload(ref["kind"], ref["name"], _text(ref["namespace"]), None,
                           custom=manifest["kind"] not in NATIVE_WORKLOAD_KINDS)


def plan_rollback(history: ReleaseHistory, release_number: Optional[int] = None, force: bool = False) -> HarnessPlan:
    """The release to roll back to, chosen as Harness's Rolling Rollback does (§4.2 steps 1-4).

    Given the number of the release to roll back (`release_number`, as Harness's deploy step passes it), the target is
    the newest Succeeded release older than it; where that is the current release itself (N newer than a newest
    release that Succeeded), there is none. Without one, Harness skips when the newest release Succeeded ("No
    failed release found"): so does this, unless `force`, which goes on to the previous Succeeded release. Every case
    where Harness would silently do nothing raises NoTargetError instead. A declarative release is re-applied whole,
    so there what counts is that the target stored manifests, not that it names a workload.
    """
    if not history.releases:
        raise NoTargetError(f"{history.source}: no release history found")
    declarative = history.kind == DECLARATIVE
    current = history.releases[0]
    if not current.workloads and not declarative:
        raise NoTargetError(f"{history.source}: no managed workload found in release {current.number}")
    if release_number is None and current.status == SUCCEEDED and not force:
        raise NoTargetError(
            f'{history.source}: the newest release {current.number} Succeeded, so Harness\'s Rolling Rollback skips '
            f'("No failed release found"); to roll it back anyway, pass --release-number {current.number} or --force'
        )
    if release_number is not None and release_number > current.number and current.status == SUCCEEDED:
        # Harness's target, the newest Succeeded release older than N, is the current release itself: an undo onto
        # what runs, then that release marked Failed. The live release is no target: never one past it.
        raise NoTargetError(
            f"{history.source}: release {release_number} is not in the history; the newest Succeeded release older "
            f"than it is release {current.number}, the current one: nothing to roll back (to roll back release "
            f"{current.number}, pass --release-number {current.number})"
        )
    below = current.number if release_number is None else release_number
    target = next((r for r in history.releases if r.number < below and r.status == SUCCEEDED), None)
    if target is None:
        raise NoTargetError(f"{history.source}: no previous Succeeded release older than release {below}")
    if not (target.specs if declarative else target.workloads):
        raise NoTargetError(
            f"{history.source}: no {'stored manifest' if declarative else 'managed workload'} found in release "
            f"{target.number}, the previous Succeeded release older than release {below}"
        )
    return HarnessPlan(current, target, _reason(current, target, release_number))


def _reason(current: Release, target: Release, release_number: Optional[int]) -> str:
    if release_number is not None:
        return f"--release-number {release_number}: release {target.number} is the newest Succeeded release older"
    if current.status == SUCCEEDED:
        return (
            f"--force: the newest release {current.number} Succeeded (Harness's Rolling Rollback would skip: "
            f'"No failed release found"); release {target.number} is the previous Succeeded release'
        )
    return f"release {current.number} is {current.status}; release {target.number} is the newest Succeeded release"


def falls_back(declarative: ReleaseHistory) -> bool:
    """Harness's migration rule (§2.2): a declarative rollback that finds no Succeeded release Secret falls back to
    the legacy history."""
    return not any(r.status == SUCCEEDED for r in declarative.releases)


def with_fallback(declarative: ReleaseHistory, legacy: ReleaseHistory) -> ReleaseHistory:
    """The legacy history with the declarative releases in front of it, newest first, as Harness's fall-back reads
    them: the newest declarative release is the one rolled back (and then marked Failed), the target is a legacy
    release. Numbering continued from the legacy history, so the declarative releases are the newer ones."""
    releases = sorted(declarative.releases + legacy.releases, key=lambda r: r.number, reverse=True)
    return dataclasses.replace(legacy, source=f"{legacy.source} and {declarative.source}", releases=tuple(releases),
                               warnings=declarative.warnings + legacy.warnings)


# --- Harness's book-keeping after a rollback (§4.2 step 8, §4.3 step 9') ----------------------------------------

FAILED = "Failed"
WorkloadKey = Tuple[str, str, Optional[str]]  # kind, name, namespace of a ManagedWorkload


def workload_key(workload: ManagedWorkload) -> WorkloadKey:
    return workload.kind, workload.name, workload.namespace


@dataclasses.dataclass(frozen=True)
class HistoryEdit:
    value: Optional[str]  # the new data.releaseHistory, stored as the old one was; None: nothing to change
    changes: Tuple[str, ...]  # what changed, in words
    skipped: Tuple[str, ...]  # what could not be changed, in words


def edit_history(object_kind: str, object_name: str, data: Any, is_secret: bool, failed: Optional[int],
                 target: Optional[int], revisions: Dict[WorkloadKey, int]) -> HistoryEdit:
    """Harness's book-keeping on a legacy history: release `failed` marked Failed, and in release `target` each
    workload's revision replaced by the one `revisions` gives (`rollout undo` renumbers the revision it restores).

    Only those scalars change: the YAML text is edited in place (every other byte of it stays as Harness wrote it)
    and stored as it was (the same compression, the same flag). A field Harness did not write is not added."""
    source = f'{object_kind} "{object_name}"'
    data = data or {}
    raw = data.get(HISTORY_KEY)
    if not raw:
        return HistoryEdit(None, (), (f"{source}: no release history to update",))
    text, wbits = _decode(source, raw, data, is_secret)
    try:
        root = yaml.compose(text, Loader=_TextLoader)
    except Exception as exc:  # as in _load_yaml: parse_history read the same text a moment ago
        raise HistoryFormatError(f"{source}: {_FIELD}: not valid YAML ({_describe_yaml_error(exc)})") from None
    edits: List[Tuple[yaml.ScalarNode, str]] = []
    changes: List[str] = []
    skipped: List[str] = []
    for entry in _sequence(_fields(root).get("releases")):
        fields = _fields(entry)
        number = _as_number(_scalar_text(fields.get("number")))
        if number is not None and number == failed:
            _replace(fields.get("status"), FAILED, f"release {number} status", edits, changes, skipped)
        if number is not None and number == target:
            for node, key in _revision_nodes(fields):
                if key in revisions:
                    _replace(node, str(revisions[key]), f"release {number} {key[0].lower()}/{key[1]} revision",
                             edits, changes, skipped)
    for node, value in sorted(edits, key=lambda edit: edit[0].start_mark.index, reverse=True):
        text = text[:node.start_mark.index] + value + text[node.end_mark.index:]
    return HistoryEdit(_encode(text, wbits, is_secret) if edits else None, tuple(changes), tuple(skipped))


def _fields(node: Any) -> Dict[str, Any]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {key.value: value for key, value in node.value if isinstance(key, yaml.ScalarNode)}


def _sequence(node: Any) -> list:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _scalar_text(node: Any) -> Optional[str]:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _revision_nodes(fields: Dict[str, Any]) -> List[Tuple[Any, WorkloadKey]]:
    """(the revision's node or None, the workload) of each workload of a release entry, as `_workloads` reads them."""
    listed = _sequence(fields.get("managedWorkloads"))
    pairs = [(_fields(item).get("workload"), _fields(item).get("revision")) for item in listed]
    if not listed and fields.get("managedWorkload") is not None:
        pairs = [(fields["managedWorkload"], fields.get("managedWorkloadRevision"))]
    nodes = []
    for ref, revision in pairs:
        kind, name, namespace = (_text(_scalar_text(_fields(ref).get(key))) for key in ("kind", "name", "namespace"))
        if kind and name:
            nodes.append((revision, (kind, name, namespace)))
    return nodes


def _replace(node: Any, value: str, what: str, edits: list, changes: List[str], skipped: List[str]) -> None:
    if not isinstance(node, yaml.ScalarNode):
        skipped.append(f"{what}: not recorded; left out")
        return
    if node.value == value:
        return
    quote = node.style if node.style in ("'", '"') else ""  # keep the scalar's style; the values need no escaping
    edits.append((node, f"{quote}{value}{quote}"))
    changes.append(f"{what} {node.value} -> {value}")


# java.util.zip.GZIPOutputStream's header (magic, deflate, no flags, MTIME 0, XFL 0, OS 0), which Harness writes.
_JDK_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x00"


def _encode(text: str, wbits: Optional[int], is_secret: bool) -> str:
    """`text` stored as data.releaseHistory was: plain, or compressed in the wrapper it was read from (gzip is the
    JDK's GZIPOutputStream at level 9, as Harness's EncodingUtils.compressString); base64 where the API wants it."""
    payload = text.encode("utf-8")
    if wbits is None:
        return base64.b64encode(payload).decode() if is_secret else text
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS if wbits != zlib.MAX_WBITS else zlib.MAX_WBITS)
    blob = compressor.compress(payload) + compressor.flush()
    if wbits == 16 + zlib.MAX_WBITS:
        blob = _JDK_GZIP_HEADER + blob + struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)
    return base64.b64encode(blob).decode()


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
    return _inflate_detecting(source, blob)[0]


def _inflate_detecting(source: str, blob: bytes) -> Tuple[bytes, int]:
    """The inflated bytes, and the wbits of the wrapper they were in (a history written back keeps it)."""
    for wbits in _INFLATE_WBITS:
        inflated = _inflate_with(source, blob, wbits)
        if inflated is not None:
            return inflated, wbits
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


class _TextLoader(yaml.SafeLoader):
    """SafeLoader without implicit resolvers: every plain scalar is the text written (`0123`, `on`, `null` stay
    text), so the model converts each field by what it is, as Harness's typed Java fields do.

    Tags it does not know build plain data instead of failing: Harness serialises Java beans and may tag them
    (`!!io.harness...`); the tag carries nothing we need. Objects are never instantiated from tags, so this is exactly
    as safe as yaml.safe_load.
    """


_TextLoader.yaml_implicit_resolvers = {}


class _ManifestLoader(yaml.SafeLoader):
    """A stored manifest read as kubectl reads one (YAML 1.1 booleans, numbers and nulls), except that timestamps stay
    text: the API's JSON has no dates, and a manifest sent back must carry what was written."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_untagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_yaml_map(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_yaml_seq(node)
    assert isinstance(node, yaml.ScalarNode)  # the third and last kind of node
    return loader.construct_scalar(node)


_TextLoader.add_constructor(None, _construct_untagged)
_ManifestLoader.add_constructor(None, _construct_untagged)


def _load_yaml(source: str, text: str, loader: type = _TextLoader, field: str = _FIELD) -> Any:
    try:
        return yaml.load(text, Loader=loader)
    # Not only YAMLError: scalar constructors raise ValueError (e.g. an explicit !!int tag on text) and deep nesting
    # raises RecursionError, and a bad history must never surface as anything but HistoryFormatError.
    except Exception as exc:
        raise HistoryFormatError(f"{source}: {field}: not valid YAML ({_describe_yaml_error(exc)})") from None


def _load_manifests(source: str, text: str, field: str) -> list:
    """Every object of a multi-document manifest set (`---` between them), in order; empty documents dropped."""
    try:
        documents = list(yaml.load_all(text, Loader=_ManifestLoader))
    except Exception as exc:  # as in _load_yaml
        raise HistoryFormatError(f"{source}: {field}: not valid YAML ({_describe_yaml_error(exc)})") from None
    return [document for document in documents if document is not None]


def _describe_yaml_error(exc: Exception) -> str:
    redact = _REDACT.get()
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        # PyYAML's problem text can quote the document (alias names, tags); a Secret's must not be echoed.
        problem = "syntax error" if redact else (exc.problem or exc.context or "syntax error")
        return _shorten(f"line {mark.line + 1}: {problem}" if mark else problem)
    return type(exc).__name__ if redact else _shorten(f"{type(exc).__name__}: {exc}")


# --- the YAML model (§2.1.1) ---------------------------------------------------------------------------------------


def _history_from_document(source: str, document: Any, typed: Callable[[], Any]) -> ReleaseHistory:
    """`document` read as text, `typed` the same document read with a manifest's types (for the stored specs)."""
    if _is_null(document):
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
    if _is_null(entries):
        entries = []
    if not isinstance(entries, list):
        raise HistoryFormatError(f"{source}: {_FIELD}.releases: expected a list, got {_type_name(entries)}")
    releases = [
        release
        for index, entry in enumerate(entries)
        if (release := _release(f"{_FIELD}.releases[{index}]", entry, functools.partial(_typed_entry, typed, index),
                                warnings)) is not None
    ]
    numbers = [release.number for release in releases]
    if any(newer <= older for newer, older in zip(numbers, numbers[1:])):
        warnings.append(
            f"{_FIELD}.releases: numbers {_shorten(str(numbers))} are not newest first; "
            f"the first entry is still taken as the current release, as Harness does"
        )
    return ReleaseHistory(source, tuple(releases), tuple(warnings))


def _typed_entry(typed: Callable[[], Any], index: int) -> Any:
    document = typed()
    return document["releases"][index]  # the same text as the one the model read, so the same shape


def _release(path: str, entry: Any, typed_entry: Callable[[], Any], warnings: List[str]) -> Optional[Release]:
    if not isinstance(entry, dict):
        warnings.append(f"{path}: expected a mapping, got {_type_name(entry)}; release skipped")
        return None
    number = _as_number(entry.get("number"))
    if number is None:
        warnings.append(f"{path}.number: missing or not a release number ({_quote(entry.get('number'))}); "
                        f"release skipped")
        return None
    specs: tuple = ()
    custom = entry.get("customWorkloads")
    if isinstance(custom, list) and custom:
        # Harness redeploys these from their stored specs (§4.2 step 5); they are not undone like native workloads.
        try:
            specs = _custom_specs(f"{path}.customWorkloads", typed_entry().get("customWorkloads"), warnings)
        except HistoryFormatError as exc:
            warnings.append(f"{path}.customWorkloads: {exc.message}; skipped")
    elif not _is_null(custom) and not isinstance(custom, list):
        warnings.append(f"{path}.customWorkloads: expected a list, got {_type_name(custom)}; ignored")
    bg_environment = _text(entry.get("bgEnvironment"))
    return Release(
        number=number,
        status=_status(f"{path}.status", entry.get("status"), warnings),
        workloads=_workloads(path, entry, warnings) + tuple(_custom_workload(spec) for spec in specs),
        resources=_resource_ids(f"{path}.resources", entry.get("resources"), warnings),
        specs=specs,
        bg_environment=bg_environment,
    )


def _custom_specs(path: str, items: list, warnings: List[str]) -> tuple:
    """The stored objects of customWorkloads: each a manifest mapping, or Harness's KubernetesResource bean whose
    `spec` is the manifest's YAML text. An entry that is neither is skipped with a warning."""
    specs = []
    for index, item in enumerate(items):
        spec = item
        if isinstance(item, dict) and isinstance(item.get("spec"), str) and "apiVersion" not in item:
            documents = _load_manifests("stored spec", item["spec"], f"{path}[{index}].spec")
            spec = documents[0] if len(documents) == 1 else None
        if not _is_object(spec):
            warnings.append(f"{path}[{index}]: not a manifest with apiVersion, kind and metadata.name; skipped")
            continue
        specs.append(spec)
    return tuple(specs)


def _is_object(spec: Any) -> bool:
    return (isinstance(spec, dict) and isinstance(spec.get("apiVersion"), str) and isinstance(spec.get("kind"), str)
            and isinstance(spec.get("metadata"), dict) and isinstance(spec["metadata"].get("name"), str))


def _custom_workload(spec: dict) -> ManagedWorkload:
    metadata = spec["metadata"]
    return ManagedWorkload(spec["kind"], metadata["name"], _text(metadata.get("namespace")), None, custom=True)


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
    if not _is_null(many) and not isinstance(many, list):
        warnings.append(f"{path}.managedWorkloads: expected a list, got {_type_name(many)}; ignored")
    single = entry.get("managedWorkload")
    if _is_null(single):
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
    if _is_null(value):
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

# What YAML spells null. Read as text, it means "absent" only where a list or mapping is expected: a name `null` is
# a name.
_NULL_SPELLINGS = frozenset({"", "~", "null", "Null", "NULL"})


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value in _NULL_SPELLINGS)


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
