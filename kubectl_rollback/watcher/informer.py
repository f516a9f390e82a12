"""A watched copy of one kind of object (client-go's reflector + store, small): list, then watch from the list's
resourceVersion with bookmarks; on 410 Gone, a broken stream or an unreachable server, list again and hand every
object to the caller once more, so a transition that happened while the stream was down is reconciled, not lost."""

from __future__ import annotations

import random
import threading
from typing import Callable, Dict, Optional, Tuple

from kubectl_rollback.errors import ApiError
from kubectl_rollback.kube import Kube, Resource

Key = Tuple[str, str]  # (namespace, name)
WATCH_SECONDS = 300  # the server ends each stream after about this long; the next one resumes from the last version
BACKOFF_CAP_SECONDS = 5.0


def key_of(obj: dict) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


class Informer:
    def __init__(
        self,
        kube: Kube,
        resource: Resource,
        all_namespaces: bool,
        on_change: Callable[[Optional[dict], Optional[dict]], None],
        on_restart: Callable[[Resource, str], None],
    ):
        """`on_change(old, new)` for every change (new None: deleted); `on_restart(resource, why)` before a relist
        that follows a failure."""
        self.kube = kube
        self.resource = resource
        self.all_namespaces = all_namespaces
        self.on_change = on_change
        self.on_restart = on_restart
        self.store: Dict[Key, dict] = {}
        self.synced = threading.Event()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Optional[dict]:
        with self._lock:
            return self.store.get(key)

    def items(self) -> list:
        with self._lock:
            return list(self.store.values())

    def remember(self, obj: dict) -> None:
        """An object we wrote ourselves, as the server answered: newer than the stream may have brought yet."""
        with self._lock:
            self.store[key_of(obj)] = obj

    def prime(self) -> str:
        """The first list, in the caller's thread, so that a wrong context or a missing permission fails the command
        at once instead of retrying in the background."""
        return self._relist()

    def run(self, stop: threading.Event, version: Optional[str] = None) -> None:
        failures = 0
        while not stop.is_set():
            try:
                if version is None:
                    version = self._relist()
                for event in self.kube.watch(self.resource, version, self.all_namespaces, WATCH_SECONDS):
                    if stop.is_set():
                        return
                    version = self._apply(event)
                    failures = 0
                # The server closed the stream at timeoutSeconds: resume from the last version (a bookmark keeps it
                # recent even when nothing changed).
            except (ApiError, KeyError, TypeError) as exc:  # a failure, or an event we cannot read: start afresh
                version = None
                failures += 1
                self.on_restart(self.resource, exc.message if isinstance(exc, ApiError) else f"bad event: {exc!r}")
                stop.wait(random.uniform(0, min(BACKOFF_CAP_SECONDS, 0.2 * 2 ** failures)))

    def _relist(self) -> str:
        items, version = self.kube.list_versioned(self.resource, self.all_namespaces)
        fresh = {key_of(obj): obj for obj in items}
        with self._lock:
            old, self.store = self.store, fresh
        for key, obj in old.items():
            if key not in fresh:
                self.on_change(obj, None)
        for key, obj in fresh.items():
            self.on_change(old.get(key), obj)
        self.synced.set()
        return version

    def _apply(self, event: dict) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            code = obj.get("code")
            raise ApiError(f"watch {self.resource.qualified}: {obj.get('reason') or 'error'} ({code}): "
                           f"{obj.get('message', '')}", status=code or 0)
        version = obj["metadata"]["resourceVersion"]
        if kind == "BOOKMARK":
            return version
        key = key_of(obj)
        with self._lock:
            old = self.store.get(key)
            if kind != "DELETED" and old is not None and _newer(old, obj):
                return version  # our own write (remember) is already here, and this event is from before it
            if kind == "DELETED":
                self.store.pop(key, None)
            else:
                self.store[key] = obj
        self.on_change(old, None if kind == "DELETED" else obj)
        return version


def _newer(a: dict, b: dict) -> bool:
    """Whether `a` is a later version of the object than `b`. resourceVersions are opaque to clients in general, but
    etcd's are integers; when they are not, the event wins."""
    try:
        return int(a["metadata"]["resourceVersion"]) > int(b["metadata"]["resourceVersion"])
    except (KeyError, ValueError):
        return False
