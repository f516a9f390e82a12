"""Kubernetes Events for what the plugin did, so `kubectl describe` and `kubectl get events` show it."""

from __future__ import annotations

import secrets

from kubectl_rollback import console
from kubectl_rollback.errors import RollbackError
from kubectl_rollback.kube import EVENTS, Kube, Resource
from kubectl_rollback.records import now_rfc3339

COMPONENT = "kubectl-harness-rollback"
ROLLBACK_REASON = "HarnessRollback"


def by(kube: Kube) -> str:
    """Who did it, for an Event's message: the user the API server takes the caller for (SelfSubjectReview, served
    from Kubernetes 1.27), with the plugin's name; the plugin's name alone where the server cannot say."""
    user = kube.whoami()
    return f"by {user} with {COMPONENT}" if user else f"by {COMPONENT}"


def emit(kube: Kube, resource: Resource, obj: dict, reason: str, message: str) -> None:
    """A Normal event on `obj`. Best effort: the change it reports has happened, so a failure is only a warning."""
    meta = obj["metadata"]
    now = now_rfc3339()
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": meta.get("namespace")},
        "involvedObject": {
            "apiVersion": f"{resource.group}/{resource.version}" if resource.group else resource.version,
            "kind": resource.kind,
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
        },
        "reason": reason,
        "message": message,
        "type": "Normal",
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        kube.create(EVENTS, event, namespace=meta.get("namespace"))
    except RollbackError as exc:
        console.warn(f"could not record an Event for the rollback: {exc.message}")


def emitted(kube: Kube, obj: dict, reason: str, message_start: str, since: str) -> bool:
    """Whether an Event `reason` on `obj` whose message starts with `message_start` was created at or after `since`
    (RFC 3339): the one a writer killed before it could say so may have created. A list that fails or is denied
    answers no: a second Event is better than none."""
    meta = obj["metadata"]
    try:
        found = kube.list(EVENTS, namespace=meta.get("namespace"),
                          field_selector=f"involvedObject.uid={meta.get('uid')},reason={reason}")
    except RollbackError:
        return False
    return any((event.get("message") or "").startswith(message_start)
               and (event.get("firstTimestamp") or event.get("eventTime") or "") >= since for event in found)
