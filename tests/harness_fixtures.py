"""Harness's release history in the bytes Harness writes (harness-behaviour.md §2, re-checked), for unit and
cluster tests.

- Legacy history: YAML as YamlBeans writes it (`yamlbeans_dump`: indent 2, every string a plain unquoted scalar where
  YAML allows one, default-valued fields left out: nulls, empty lists, `versioned: false`), gzip as the JDK's
  GZIPOutputStream writes it at level 9 (`jdk_gzip`), stored in a ConfigMap (base64 text of the gzip bytes, flag
  "true") or a Secret (the gzip bytes, flag byte 0x01).
- Declarative releases: one Secret per release, `harness.release.<R>.<n>`, type harness.io/release/v2, with Harness's
  labels and annotations, data key `release` = gzip of the rendered manifests, each document preceded by `---`.

The key names, flag values and encodings are written out literally from the document rather than imported from
`kubectl_rollback.harness_history`, so the tests check the parser against the documented format, not against itself.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

import yaml

HISTORY_KEY = "releaseHistory"
FLAG_KEY = "isReleaseHistoryCompressed"
CONFIGMAP_FLAG = "true"
SECRET_FLAG = base64.b64encode(b"\x01").decode()  # "AQ==": the single byte 0x01, base64-encoded as Secret data is


def _raw_deflate(payload: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(payload) + compressor.flush()


# java.util.zip.GZIPOutputStream's fixed header: magic, CM=8 (deflate), no flags, MTIME 0, XFL 0, OS 0.
_JDK_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x00"


def jdk_gzip(payload: bytes) -> bytes:
    """The bytes Harness's EncodingUtils.compressString writes: GZIPOutputStream over a level-9 Deflater (header,
    raw deflate, CRC-32 and length, little-endian)."""
    trailer = struct.pack("<II", zlib.crc32(payload) & 0xFFFFFFFF, len(payload) & 0xFFFFFFFF)
    return _JDK_GZIP_HEADER + _raw_deflate(payload) + trailer


# Harness writes gzip; zlib and raw deflate are the fallbacks the reader accepts.
COMPRESSORS: Dict[str, Callable[[bytes], bytes]] = {
    "gzip": jdk_gzip,
    "zlib": lambda payload: zlib.compress(payload, 9),
    "deflate": _raw_deflate,
}

# -- YamlBeans ---------------------------------------------------------------------------------------------------

# What YamlBeans can write as a plain scalar and YAML reads back as the same characters (as text, or as a YAML 1.1
# number/boolean/null, which is the point: `0123`, `on`, `null`, `1e3` are written bare).
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@+=~-]*")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if value is None:
        return "~"
    text = str(value)
    if _PLAIN.fullmatch(text):
        return text
    # Only what cannot be plain (spaces, line breaks, indicators) is double-quoted.
    return yaml.safe_dump(text, default_style='"', width=float("inf"), allow_unicode=True).rstrip("\n")


def _omitted(value: Any) -> bool:
    """A field YamlBeans leaves out: null, an empty list or map, a false boolean."""
    return value is None or value is False or (isinstance(value, (list, dict)) and not value)


def _block(value: Any, indent: int) -> List[str]:
    pad = " " * indent
    lines: List[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if _omitted(item):
                continue
            if isinstance(item, (dict, list)):
                lines.append(f"{pad}{_scalar(key)}:")
                lines += _block(item, indent + 2 if isinstance(item, dict) else indent)
            else:
                lines.append(f"{pad}{_scalar(key)}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            inner = _block(item, indent + 2) if isinstance(item, (dict, list)) else []
            if inner:
                inner[0] = f"{pad}- {inner[0][indent + 2:]}"
                lines += inner
            elif isinstance(item, (dict, list)):  # a bean whose every field has its default
                lines.append(f"{pad}- {'{}' if isinstance(item, dict) else '[]'}")
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(pad + _scalar(value))
    return lines


def yamlbeans_dump(document: dict) -> str:
    """`document` as YamlBeans 1.17 writes a bean (ObjectYamlUtils.toYaml): block style, indent 2, plain scalars,
    default-valued fields omitted, no tags or anchors."""
    return "\n".join(_block(document, 0)) + "\n"


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

    `compressed` is None for the older plain-YAML form, else "gzip" (what Harness writes), "zlib" or "deflate".
    """
    return encode_history(yamlbeans_dump({"version": "v1", "releases": releases}), compressed, secret)


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


def history_object(kind: str, name: str, releases: List[dict], compressed: Optional[str] = "gzip") -> dict:
    """The legacy history object Harness keeps: ConfigMap or Secret NAME (a Secret of type Opaque)."""
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name},
           "data": build_history_data(releases, compressed, secret=kind == "Secret")}
    if kind == "Secret":
        obj["type"] = "Opaque"
    return obj


def custom_workload_entry(manifest: dict) -> dict:
    """A `customWorkloads` item as Harness's KubernetesResource bean: its resource id and the manifest as YAML text."""
    metadata = manifest["metadata"]
    return {"resourceId": workload_ref(manifest["kind"], metadata["name"], metadata.get("namespace")),
            "spec": yaml.safe_dump(manifest, sort_keys=False)}


def release_secret(release: str, number: int, status: str, manifests: List[dict], namespace: Optional[str] = None,
                   bg_environment: Optional[str] = None, pruning: bool = False) -> dict:
    """One declarative release as Harness stores it (§2.2): Secret `harness.release.<R>.<n>`, type
    harness.io/release/v2, labels owner/release/release-number/status/harness.io/pruning-enabled (and the BG
    environment), Harness's annotations, data `release` = gzip of the rendered manifests, each preceded by `---`."""
    rendered = "".join("---\n" + yaml.safe_dump(m, sort_keys=False) for m in manifests)
    labels = {"owner": "harness", "release": release, "release-number": str(number), "status": status,
              "harness.io/pruning-enabled": "true" if pruning else "false"}
    if bg_environment:
        labels["harness.io/bg-environment"] = bg_environment
    metadata: dict = {
        "name": f"harness.release.{release}.{number}",
        "labels": labels,
        "annotations": {"harness.io/service": "svc1", "harness.io/env": "env1", "harness.io/infra": "infra1",
                        "harness.io/infra-key": "infrakey1"},
    }
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Secret", "type": "harness.io/release/v2", "metadata": metadata,
            "data": {"release": base64.b64encode(jdk_gzip(rendered.encode())).decode()}}
