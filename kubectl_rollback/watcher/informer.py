"""A watched copy of one kind of object (client-go's reflector + store, small): list, then watch from the list's
resourceVersion with bookmarks; on 410 Gone, a broken stream or an unreachable server, list again and hand every
object to the caller once more, so a transition that happened while the stream was down is reconciled, not lost.

Each stream asks the server to end it after WATCH_SECONDS, and the next one resumes from the last version: a live
stream is heard from (an event, a bookmark, its end) at least that often. One silent for SILENCE_LIMIT_SECONDS is
dead though still open (a frozen connection, a path that dropped without a FIN or RST): kube.watch gives up on it and
the informer lists again on a fresh connection. The same silence is what `live()` reports to /healthz."""

from __future__ import annotations

import random
import threading
import time
from typing import Callable, Dict, Optional, Tuple

from kubectl_rollback.errors import ApiError
from kubectl_rollback.kube import WATCH_SILENCE_MARGIN_SECONDS, Kube, Resource

Key = Tuple[str, str]  # (namespace, name)
WATCH_SECONDS = 25  # the server ends each stream after this long (a 1.20 server sends its bookmark 2 s before)
SILENCE_LIMIT_SECONDS = WATCH_SECONDS + WATCH_SILENCE_MARGIN_SECONDS  # heard from nothing this long: blind
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
        self.heard_at = time.monotonic()  # of the last list, event, bookmark or stream end (the start, before any)
        self.listed_at = 0.0  # time.time() of the last successful list (a metric)
        self.failing_since: Optional[float] = None  # monotonic: the first failure since the server was last heard
        self.failure = ""  # what that failure was

    def blind_since(self, now: float) -> Optional[float]:
        """Since when (monotonic) this informer cannot see changes: its list or stream failed, or it has heard
        nothing for SILENCE_LIMIT_SECONDS; None while it sees them."""
        stale = self.heard_at + SILENCE_LIMIT_SECONDS if now - self.heard_at > SILENCE_LIMIT_SECONDS else None
        moments = [m for m in (stale, self.failing_since) if m is not None]
        return min(moments) if moments else None

    def silence(self) -> float:
        """Seconds since the server was last heard on this kind's list or watch."""
        return time.monotonic() - self.heard_at

    def last_listed(self) -> float:
        """Unix time of the last successful list (0 before it)."""
        return self.listed_at

    def blindness(self, now: float) -> str:
        """Why blind_since is set, in words."""
        if self.failing_since is not None:
            return f"failing for {now - self.failing_since:.0f}s: {self.failure}"
        return f"nothing heard for {now - self.heard_at:.0f}s"

    def _heard(self) -> None:
        self.heard_at = time.monotonic()
        self.failing_since = None

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
                    self._heard()
                    failures = 0
                # The server closed the stream at timeoutSeconds: resume from the last version (a bookmark keeps it
                # recent even when nothing changed).
                self._heard()
            except (ApiError, KeyError, TypeError) as exc:  # a failure, or an event we cannot read: start afresh
                version = None
                failures += 1
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self.failure = exc.message if isinstance(exc, ApiError) else f"bad event: {exc!r}"
                self.on_restart(self.resource, self.failure)
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
        self._heard()
        self.listed_at = time.time()
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
