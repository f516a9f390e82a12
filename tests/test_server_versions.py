"""Behaviour that differs between the server versions the suite runs on (1.35 and the oldest supported, 1.20;
docs/testing.md lists the differences): the plugin must give users the same result on both."""

from __future__ import annotations

import json

from tests import harness_fixtures as hf


def web_release(tag: str) -> list:
    """A declarative release as a chart renders it: ports with no `protocol`, which the server defaults to TCP."""
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                {"name": "app", "image": f"example.test/web:{tag}", "ports": [{"containerPort": 8080}]}]}}},
    }
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    return [deployment, service]


def test_a_declarative_release_whose_ports_omit_the_protocol_rolls_back(ns):
    # kube-apiserver 1.20's server-side apply refuses such a list (HTTP 500, "associative list with keys has an
    # element that omits key field \"protocol\""); a current server defaults the protocol.
    ns.apply(json.dumps(hf.release_secret("rel", 1, "Succeeded", web_release("1"))))
    ns.apply(json.dumps(hf.release_secret("rel", 2, "Failed", web_release("2-broken"))))
    for manifest in web_release("2-broken"):  # what release 2 applied
        ns.apply(json.dumps(manifest))

    proc = ns.plugin("rollback", "--harness-release", "rel")
    assert proc.returncode == 0, proc.stderr
    assert "deployment/web: rolled back: configured (server-side apply" in proc.stdout, proc.stdout
    deployment = ns.get("deployment", "web")["spec"]["template"]["spec"]["containers"][0]
    assert (deployment["image"], deployment["ports"]) == (
        "example.test/web:1", [{"containerPort": 8080, "protocol": "TCP"}])
    assert [(p["port"], p["protocol"]) for p in ns.get("service", "web")["spec"]["ports"]] == [(80, "TCP")]
