"""The informer's list-then-watch: bookmarks move the resourceVersion on, 410 Gone and broken streams relist, and a
relist reports what changed meanwhile (deletions included). The API seam is scripted here: each list and each watch
call returns the next scripted answer."""

from __future__ import annotations

import threading

from kubectl_rollback.errors import ApiError
from kubectl_rollback.kube import DEPLOYMENTS
from kubectl_rollback.watcher.informer import SILENCE_LIMIT_SECONDS, Informer


def obj(name: str, version: str) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": version}}


class ScriptedKube:
    def __init__(self, lists: list, watches: list, stop: threading.Event):
        self.lists, self.watches, self.stop = lists, watches, stop
        self.watched_from: list = []

    def list_versioned(self, resource, all_namespaces=False):
        return self.lists.pop(0)

    def watch(self, resource, version, all_namespaces=False, timeout_seconds=300):
        self.watched_from.append(version)
        if not self.watches:
            self.stop.set()
            return
        answer = self.watches.pop(0)
        if isinstance(answer, Exception):
            raise answer
        yield from answer


def test_bookmarks_resume_410_and_broken_streams_relist_and_report_what_changed():
    stop = threading.Event()
    kube = ScriptedKube(
        lists=[([obj("a", "1")], "1"), ([obj("b", "7")], "7"), ([obj("b", "9")], "9")],
        watches=[
            [{"type": "MODIFIED", "object": obj("a", "2")}, {"type": "BOOKMARK", "object": obj("", "5")}],
            [{"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "too old"}}],
            ApiError("the stream broke"),
            [],
        ],
        stop=stop,
    )
    changes, restarts = [], []
    informer = Informer(kube, DEPLOYMENTS, False,
                        lambda old, new: changes.append((old and old["metadata"]["resourceVersion"],
                                                         new and new["metadata"]["resourceVersion"])),
                        lambda resource, why: restarts.append(why))
    informer.run(stop, informer.prime())
    # a listed, a modified; the stream ended after a bookmark (resume from 5); 410: relist (a gone, b new);
    # broken stream: relist again (b changed).
    assert changes == [(None, "1"), ("1", "2"), ("2", None), (None, "7"), ("7", "9")]
    assert kube.watched_from == ["1", "5", "7", "9", "9"]  # the last: after a stream that simply ended
    assert len(restarts) == 2 and "410" in restarts[0] and "broke" in restarts[1]
    assert [o["metadata"]["name"] for o in informer.items()] == ["b"]


def test_an_event_older_than_our_own_write_does_not_replace_it():
    stop = threading.Event()
    kube = ScriptedKube(lists=[([obj("a", "1")], "1")], watches=[[{"type": "MODIFIED", "object": obj("a", "2")}]],
                        stop=stop)
    informer = Informer(kube, DEPLOYMENTS, False, lambda old, new: None, lambda resource, why: None)
    version = informer.prime()
    informer.remember(obj("a", "3"))  # what the server answered to our patch
    informer.run(stop, version)
    assert informer.items()[0]["metadata"]["resourceVersion"] == "3"


def test_an_informer_is_blind_from_its_first_failure_or_after_a_silence_until_heard_again():
    stop = threading.Event()
    kube = ScriptedKube(lists=[([obj("a", "1")], "1"), ([obj("a", "1")], "1")],
                        watches=[ApiError("the stream broke (read timed out)")], stop=stop)
    informer = Informer(kube, DEPLOYMENTS, False, lambda old, new: None, lambda resource, why: None)
    version = informer.prime()
    now = informer.heard_at
    assert informer.blind_since(now) is None and informer.last_listed() > 0
    # Nothing heard for longer than a stream may stay silent: blind since the limit passed.
    later = now + SILENCE_LIMIT_SECONDS + 5
    assert informer.blind_since(later) == now + SILENCE_LIMIT_SECONDS
    assert informer.blindness(later) == f"nothing heard for {SILENCE_LIMIT_SECONDS + 5:.0f}s"
    # A failure makes it blind at once; the relist that follows (the script's second list) heals it.
    informer.failing_since, informer.failure = now, "cannot list deployments.apps: connection refused"
    assert informer.blind_since(now) == now
    assert informer.blindness(now + 3) == "failing for 3s: cannot list deployments.apps: connection refused"
    informer.run(stop, version)
    assert informer.failing_since is None and informer.blind_since(informer.heard_at) is None

