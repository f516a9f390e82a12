"""The test control plane serves custom resources: a CustomResourceDefinition, then objects of its kind created,
listed and watched, with the API server still up afterwards. Later work puts Argo CD and Flux objects on this
cluster. kube-apiserver 1.20 built with Go 1.18+ and its vendored reflect2 1.0.1 died (SIGSEGV in the watch cache)
on the first custom object written; tests/cluster/build.sh builds it with the fixed reflect2."""

import json

import pytest

from tests import scenarios as sc
from tests.cluster.api import ApiFailure

GROUP = "crdtest.example.test"
PLURAL = "widgets"
CRD_PATH = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{PLURAL}.{GROUP}"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}},
        }],
    },
}


def widget(name: str, size: int) -> str:
    return json.dumps({"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name},
                       "spec": {"size": size}})


@pytest.fixture
def widgets(cluster):
    """The Widget CRD, Established; deleted afterwards (the cluster serves the whole session)."""
    cluster.api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)

    def established():
        conditions = (cluster.api.get(CRD_PATH).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    try:
        sc.wait_until(established, "the CustomResourceDefinition to be Established")
        yield
    finally:
        try:
            cluster.api.delete(CRD_PATH)
        except (ApiFailure, OSError):  # a dead server fails the test itself; its teardown has nothing to add
            pass


def assert_api_server_alive(cluster) -> None:
    process = cluster.plane.processes["kube-apiserver"]
    assert process.poll() is None, f"kube-apiserver exited ({process.returncode}):\n{cluster.plane.log_tail(40)}"
    assert cluster.api.request("GET", "/readyz", parse=False) == "ok"


def test_custom_objects_are_created_listed_and_watched(ns, cluster, widgets):
    collection = f"/apis/{GROUP}/v1/namespaces/{ns.name}/{PLURAL}"

    def discovered():  # by the real kubectl (its discovery cache is refreshed on a miss)
        assert_api_server_alive(cluster)  # a crash fails here at once, with the server's log
        return ns.kubectl("get", PLURAL, check=False).returncode == 0

    ns.wait_until(discovered, "kubectl to discover the widgets")
    listed = cluster.api.get(collection)
    assert listed["items"] == []

    with cluster.api.watch(collection, listed["metadata"]["resourceVersion"]) as watch:
        ns.apply(widget("small", 1))
        added = watch.next_event()
        ns.kubectl("patch", "widget/small", "--type=merge", "-p", json.dumps({"spec": {"size": 2}}))
        modified = watch.next_event()
        assert [(w["metadata"]["name"], w["spec"]["size"]) for w in ns.items(PLURAL)] == [("small", 2)]
        ns.kubectl("delete", "widget/small")
        deleted = watch.next_event()
    assert (added["type"], added["object"]["metadata"]["name"], added["object"]["spec"]["size"]) == (
        "ADDED", "small", 1)
    assert (modified["type"], modified["object"]["spec"]["size"]) == ("MODIFIED", 2)
    assert (deleted["type"], deleted["object"]["metadata"]["name"]) == ("DELETED", "small")
    assert ns.items(PLURAL) == []
    assert_api_server_alive(cluster)
