"""Harness legacy release history as it sits in a cluster (harness-behaviour.md §2.1), for unit and cluster tests.

The key names, flag values and encodings are written out literally from the document rather than imported from
`kubectl_rollback.harness_history`, so the tests check the parser against the documented format, not against itself.
"""

from __future__ import annotations

import base64
import gzip
import zlib
from typing import Callable, Dict, Iterable, List, Optional, Union

import yaml

HISTORY_KEY = "releaseHistory"
FLAG_KEY = "isReleaseHistoryCompressed"
CONFIGMAP_FLAG = "true"
SECRET_FLAG = base64.b64encode(b"\x01").decode()  # "AQ==": the single byte 0x01, base64-encoded as Secret data is


def _raw_deflate(payload: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(payload) + compressor.flush()


# Harness writes at Deflater.BEST_COMPRESSION (level 9); the wrapper is unverified, hence all three.
COMPRESSORS: Dict[str, Callable[[bytes], bytes]] = {
    "zlib": lambda payload: zlib.compress(payload, 9),
    "gzip": lambda payload: gzip.compress(payload, compresslevel=9),
    "deflate": _raw_deflate,
}


def workload_ref(kind: str, name: str, namespace: Optional[str] = None) -> dict:
    """A workload reference: the {kind, name, namespace} part of a KubernetesResourceId."""
    ref = {"kind": kind, "name": name}
    if namespace is not None:
        ref["namespace"] = namespace
    return ref


def resource_ref(kind: str, name: str, namespace: Optional[str] = None, versioned: bool = False) -> dict:
    """A `resources` item: a KubernetesResourceId, with whether Harness versioned it (`-<n>` suffix)."""
    return dict(workload_ref(kind, name, namespace), versioned=versioned)


def workload_entry(kind: str, name: str, namespace: Optional[str], revision: Optional[str]) -> dict:
    """One `managedWorkloads` item; Harness stores the revision as a string."""
    entry = {"workload": workload_ref(kind, name, namespace)}
    if revision is not None:
        entry["revision"] = revision
    return entry


def release_entry(number: int, status: str, workloads: Iterable[dict] = (), resources: Optional[list] = None) -> dict:
    """A release in the multi-workload (Rolling) form; `resources` defaults to the workloads' own references."""
    workloads = list(workloads)
    if resources is None:
        resources = [dict(item["workload"], versioned=False) for item in workloads]
    return {"number": number, "status": status, "resources": resources, "managedWorkloads": workloads}


def single_workload_release_entry(
    number: int, status: str, kind: str, name: str, namespace: Optional[str], revision: Optional[str]
) -> dict:
    """A release in the older single-workload form (`managedWorkload` + `managedWorkloadRevision`; BG, Canary)."""
    entry = {
        "number": number,
        "status": status,
        "resources": [resource_ref(kind, name, namespace)],
        "managedWorkload": workload_ref(kind, name, namespace),
    }
    if revision is not None:
        entry["managedWorkloadRevision"] = revision
    return entry


def build_history_data(releases: List[dict], compressed: Optional[str], secret: bool) -> dict:
    """The `data` of the history ConfigMap (or Secret, values base64) holding `releases`, given newest first.

    `compressed` is None for the older plain-YAML form, else "zlib", "gzip" or "deflate".
    """
    text = yaml.safe_dump({"version": "v1", "releases": releases}, sort_keys=False)
    return encode_history(text, compressed, secret)


def encode_history(payload: Union[str, bytes], compressed: Optional[str], secret: bool) -> dict:
    """`data` holding an arbitrary payload in place of the YAML, for feeding the parser corrupt or foreign content.

    Bytes are only representable where the stored value is bytes: in a Secret, or once compressed.
    """
    raw = payload.encode("utf-8") if isinstance(payload, str) else payload
    if compressed is None:
        value = base64.b64encode(raw).decode() if secret else raw.decode("utf-8")
        return {HISTORY_KEY: value}
    # ConfigMap: base64 text of the compressed bytes. Secret: the compressed bytes themselves, which the Secret's own
    # base64 encoding turns into the same text; only the flag's spelling differs.
    value = base64.b64encode(COMPRESSORS[compressed](raw)).decode()
    return {HISTORY_KEY: value, FLAG_KEY: SECRET_FLAG if secret else CONFIGMAP_FLAG}
