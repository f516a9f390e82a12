"""Reading kubeconfigs as kubectl does: merging KUBECONFIG files, contexts, credentials, exec plugins."""

import base64
import os
import stat
import sys

import pytest
import yaml

from kubectl_rollback import kubeconfig
from kubectl_rollback.errors import RollbackError, UsageError


def write(path, clusters=(), users=(), contexts=(), current=None):
    data = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters],
        "users": [{"name": n, "user": u} for n, u in users],
        "contexts": [{"name": n, "context": c} for n, c in contexts],
    }
    if current:
        data["current-context"] = current
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(autouse=True)
def no_ambient_config(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def test_several_files_merge_first_wins(tmp_path, monkeypatch):
    a = write(tmp_path / "a", clusters=[("c1", {"server": "https://a:6443/"})],
              users=[("u1", {"token": "tok-a"})], contexts=[("ctx", {"cluster": "c1", "user": "u1"})], current="ctx")
    b = write(tmp_path / "b", clusters=[("c1", {"server": "https://b:6443"}), ("c2", {"server": "https://c2"})],
              users=[("u2", {"token": "tok-b"})],
              contexts=[("ctx", {"cluster": "c2", "user": "u2"}), ("other", {"cluster": "c2", "user": "u2",
                                                                              "namespace": "team"})],
              current="other")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([a, str(tmp_path / "missing"), b]))
    conn = kubeconfig.load(None, None)
    assert (conn.server, conn.namespace, conn.cluster_name) == ("https://a:6443", "default", "c1")
    assert conn.authorization() == "Bearer tok-a"
    other = kubeconfig.load(None, "other")
    assert (other.server, other.namespace, other.authorization()) == ("https://c2", "team", "Bearer tok-b")


def test_unknown_context_lists_the_known(tmp_path):
    path = write(tmp_path / "k", clusters=[("c", {"server": "https://x"})],
                 contexts=[("one", {"cluster": "c"}), ("two", {"cluster": "c"})], current="one")
    with pytest.raises(UsageError, match=r'context "nope" does not exist in the kubeconfig \(contexts: one, two\)'):
        kubeconfig.load(path, "nope")


def test_missing_files_and_garbage(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        kubeconfig.load(str(tmp_path / "absent"), None)
    with pytest.raises(UsageError, match="no kubeconfig found"):
        kubeconfig.load(None, None)
    garbage = tmp_path / "garbage"
    garbage.write_text("- just\n- a list\n")
    with pytest.raises(UsageError, match="not a kubeconfig"):
        kubeconfig.load(str(garbage), None)
    broken = tmp_path / "broken"
    broken.write_text("clusters: [unclosed\n")
    with pytest.raises(UsageError, match="cannot read the kubeconfig"):
        kubeconfig.load(str(broken), None)


def test_relative_paths_inline_data_and_tls_settings(tmp_path):
    (tmp_path / "ca.crt").write_text("CA")
    key = base64.b64encode(b"KEY").decode()
    path = write(tmp_path / "k", clusters=[("c", {"server": "https://x", "certificate-authority": "ca.crt",
                                                  "tls-server-name": "api.internal"})],
                 users=[("u", {"client-certificate": "certs/me.crt", "client-key-data": key})],
                 contexts=[("ctx", {"cluster": "c", "user": "u"})], current="ctx")
    conn = kubeconfig.load(path, None)
    assert conn.ca_file == str(tmp_path / "ca.crt")
    assert conn.cert_file == str(tmp_path / "certs" / "me.crt")
    with open(conn.key_file, "rb") as f:
        assert f.read() == b"KEY"
    assert stat.S_IMODE(os.stat(conn.key_file).st_mode) == 0o600
    assert conn.tls_server_name == "api.internal" and conn.verify


def test_token_file_is_read_on_each_request(tmp_path):
    token = tmp_path / "token"
    token.write_text("first\n")
    path = write(tmp_path / "k", clusters=[("c", {"server": "https://x", "insecure-skip-tls-verify": True})],
                 users=[("u", {"tokenFile": "token"})], contexts=[("ctx", {"cluster": "c", "user": "u"})],
                 current="ctx")
    conn = kubeconfig.load(path, None)
    assert conn.authorization() == "Bearer first" and not conn.verify
    token.write_text("rotated")
    assert conn.authorization() == "Bearer rotated"


def test_basic_auth(tmp_path):
    path = write(tmp_path / "k", clusters=[("c", {"server": "https://x"})],
                 users=[("u", {"username": "ann", "password": "pw"})],
                 contexts=[("ctx", {"cluster": "c", "user": "u"})], current="ctx")
    assert kubeconfig.load(path, None).authorization() == "Basic " + base64.b64encode(b"ann:pw").decode()


def exec_user(tmp_path, body: str):
    script = tmp_path / "plugin.py"
    script.write_text(body)
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                     "args": [str(script)], "env": [{"name": "PLUGIN_TOKEN", "value": "from-exec"}]}}


def test_exec_plugin_gives_a_token_and_sees_exec_info(tmp_path):
    user = exec_user(tmp_path, (
        "import json, os\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "assert info['kind'] == 'ExecCredential' and info['spec']['interactive'] is False\n"
        "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',\n"
        "                  'status': {'token': os.environ['PLUGIN_TOKEN']}}))\n"
    ))
    path = write(tmp_path / "k", clusters=[("c", {"server": "https://x"})], users=[("u", user)],
                 contexts=[("ctx", {"cluster": "c", "user": "u"})], current="ctx")
    assert kubeconfig.load(path, None).authorization() == "Bearer from-exec"


def test_exec_plugin_failure_is_one_line(tmp_path):
    user = exec_user(tmp_path, "import sys\nprint('log in first', file=sys.stderr)\nsys.exit(3)\n")
    path = write(tmp_path / "k", clusters=[("c", {"server": "https://x"})], users=[("u", user)],
                 contexts=[("ctx", {"cluster": "c", "user": "u"})], current="ctx")
    with pytest.raises(RollbackError, match=r"failed \(exit 3\): log in first"):
        kubeconfig.load(path, None).authorization()


def test_exec_plugin_client_certificate(tmp_path):
    user = exec_user(tmp_path, (
        "import json\n"
        "print(json.dumps({'status': {'clientCertificateData': 'CERT', 'clientKeyData': 'KEY'}}))\n"
    ))
    path = write(tmp_path / "k", clusters=[("c", {"server": "https://x"})], users=[("u", user)],
                 contexts=[("ctx", {"cluster": "c", "user": "u"})], current="ctx")
    conn = kubeconfig.load(path, None)
    with open(conn.cert_file) as f:
        assert f.read() == "CERT"
    assert conn.authorization() is None


def test_in_cluster(tmp_path, monkeypatch):
    monkeypatch.setattr(kubeconfig, "IN_CLUSTER_DIR", str(tmp_path))
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "namespace").write_text("apps\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    conn = kubeconfig.load(None, None)
    assert (conn.server, conn.namespace, conn.authorization()) == ("https://[fd00::1]:443", "apps", "Bearer sa-token")
    assert conn.ca_file == str(tmp_path / "ca.crt")


def test_no_current_context(tmp_path):
    path = write(tmp_path / "k", clusters=[("c", {"server": "https://x"})], contexts=[("ctx", {"cluster": "c"})])
    with pytest.raises(UsageError, match="no current context; pass --context"):
        kubeconfig.load(path, None)
    assert kubeconfig.load(path, "ctx").namespace == "default"
