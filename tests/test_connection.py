"""kubectl's connection conventions against the real cluster: KUBECONFIG with several files, --context, the
context's namespace, and an exec credential plugin."""

import os
import sys

import yaml

from tests import manifests
from tests.cluster.controlplane import ADMIN_TOKEN


def test_kubeconfig_list_context_namespace_and_exec_plugin(ns, cluster, tmp_path):
    ns.apply(manifests.deployment("web", "example.test/web:1"))
    plugin = tmp_path / "credential.py"
    plugin.write_text(
        "import json, os\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',\n"
        "                  'status': {'token': os.environ['TOKEN_FOR_TEST']}}))\n"
    )
    exec_config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "via-exec", "cluster": {"server": cluster.plane.server,
                                                      "certificate-authority": cluster.plane.ca_file}}],
        "users": [{"name": "exec-user", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable, "args": [str(plugin)],
            "env": [{"name": "TOKEN_FOR_TEST", "value": ADMIN_TOKEN}], "interactiveMode": "Never"}}}],
        "contexts": [{"name": "exec", "context": {"cluster": "via-exec", "user": "exec-user",
                                                  "namespace": ns.name}}],
    }
    second = tmp_path / "second.yaml"
    second.write_text(yaml.safe_dump(exec_config))
    env = dict(cluster.env, KUBECONFIG=os.pathsep.join([cluster.kubeconfig, str(second)]))
    # no -n: the namespace comes from the chosen context; the token from the exec plugin
    proc = cluster.run("harness-rollback", "history", "deployment/web", "--context", "exec", "-o", "json",
                       "--workflow-id", "wf1", "--service-id", "svc", "--infra-id", "infra", env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f'"namespace": "{ns.name}"' in proc.stdout
    assert '"clusterName": "via-exec"' in proc.stdout  # the identity's cluster defaults to the context's cluster
    assert ADMIN_TOKEN not in proc.stdout + proc.stderr


def test_wrong_token_is_one_line_without_the_token(ns, cluster, tmp_path):
    from tests.cluster.controlplane import kubeconfig_text

    config = tmp_path / "bad-token"
    config.write_text(kubeconfig_text(cluster.plane.server, cluster.plane.ca_file, "admin", "not-a-valid-token-123"))
    proc = ns.plugin("history", "deployment/web", "--kubeconfig", str(config))
    assert proc.returncode == 1
    assert "Unauthorized (401)" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "not-a-valid-token-123" not in proc.stdout + proc.stderr
