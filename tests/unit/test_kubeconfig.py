"""Reading kubeconfigs as kubectl does: merging KUBECONFIG files, contexts, credentials, exec plugins."""

import base64
import json
import os
import stat
import sys
import time

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
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "me.crt").write_text("CERT")
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


def test_token_file_is_re_read_once_its_cache_expires(tmp_path, monkeypatch):
    monkeypatch.setattr(kubeconfig, "TOKEN_FILE_CACHE_SECONDS", 0)
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
                     "args": [str(script)], "env": [{"name": "PLUGIN_TOKEN", "value": "from-exec"}],
                     "interactiveMode": "Never"}}


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
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',\n"
        "                  'status': {'clientCertificateData': 'CERT', 'clientKeyData': 'KEY'}}))\n"
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


def test_an_empty_kubeconfig_in_a_pod_means_in_cluster_as_client_go_decides(tmp_path, monkeypatch):
    monkeypatch.setattr(kubeconfig, "IN_CLUSTER_DIR", str(tmp_path))
    (tmp_path / "token").write_text("sa-token")
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("KUBECONFIG", str(empty))
    with pytest.raises(UsageError, match="has no current context"):  # not in a pod
        kubeconfig.load(None, None)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    assert kubeconfig.load(None, None).server == "https://10.0.0.1:443"
    # a context asked for (by --context or current-context) that does not exist is an error in a pod too
    with pytest.raises(UsageError, match='context "any" does not exist'):
        kubeconfig.load(str(empty), "any")
    monkeypatch.setenv("KUBECONFIG", f"{empty}{os.pathsep}{write(tmp_path / 'current', current='gone')}")
    with pytest.raises(UsageError, match='context "gone" does not exist'):
        kubeconfig.load(None, None)
    # credentials from flags are not the service account's: kubectl would send them to localhost:8080
    with pytest.raises(UsageError, match="pass --context"):
        kubeconfig.load(str(empty), None, kubeconfig.Overrides(token="t"))
    defined = one_context(tmp_path)  # a kubeconfig that defines what to connect to is used, in a pod too
    assert kubeconfig.load(defined, None).server == "https://x"


def test_no_current_context(tmp_path):
    path = write(tmp_path / "k", clusters=[("c", {"server": "https://x"})], users=[("u", {"token": "t"})],
                 contexts=[("ctx", {"cluster": "c", "user": "u"})])
    with pytest.raises(UsageError, match="no current context; pass --context"):
        kubeconfig.load(path, None)
    assert kubeconfig.load(path, "ctx").namespace == "default"


def one_context(tmp_path, cluster=None, user=None, name="k", context_extra=None):
    cluster = {"server": "https://x"} if cluster is None else cluster
    return write(tmp_path / name, clusters=[("c", cluster)], users=[("u", {"token": "t"} if user is None else user)],
                 contexts=[("ctx", dict({"cluster": "c", "user": "u"}, **(context_extra or {})))], current="ctx")


@pytest.mark.parametrize("cluster, user, message", [
    ({"server": "https://x", "insecure-skip-tls-verify": "false"}, {}, "must be true or false"),
    ({"server": 6443}, {}, "must be a string"),
    ({"server": "https://x"}, {"as-groups": "admins"}, "must be a list"),
    ({"server": "https://x", "certificate-authority-data": "not base64!"}, {}, "not valid base64"),
    ({"server": "https://x", "insecure-skip-tls-verify": True, "certificate-authority-data": "Q0E="}, {},
     "insecure-skip-tls-verify together with a certificate authority"),
    ({"server": "https://x", "certificate-authority": "ca.crt", "certificate-authority-data": "Q0E="}, {},
     "both certificate-authority and certificate-authority-data"),
    ({"server": "https://x", "certificate-authority": "absent.crt"}, {}, "cannot be read"),
    ({"server": "https://x", "proxy-url": "ftp://proxy:21"}, {}, "must be http, https or socks5"),
    ({"server": ""}, {"token": "t"}, "has no server address"),
    ({"server": "https://x"}, {"token": "t", "username": "ann", "password": "pw"}, "only one authentication"),
    ({"server": "https://x"}, {"token": "t", "password": "pw"}, "only one authentication"),
    ({"server": "https://x"}, {"tokenFile": "tok", "username": "ann"}, "only one authentication"),
    ({"server": "https://x"}, {"client-certificate-data": "Q0E=", "client-certificate": "c.crt",
                               "client-key-data": "Q0E="}, "both client-certificate and client-certificate-data"),
    ({"server": "https://x"}, {"client-certificate-data": "Q0E="}, "no client-key"),
    ({"server": "https://x"}, {"as-groups": ["g"]}, "without a user to impersonate"),
    ({"server": "https://x"}, {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "c"}},
     "interactiveMode"),
    ({"server": "https://x"}, {"exec": {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "c"}},
     "apiVersion"),
    ({"server": "https://x"}, {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "c",
                                        "interactiveMode": "Sometimes"}}, "interactiveMode 'Sometimes'"),
    ({"server": "https://x"}, {"auth-provider": {"name": "gcp"}}, "gke-gcloud-auth-plugin"),
])
def test_refuses_what_kubectl_refuses(tmp_path, cluster, user, message):
    (tmp_path / "ca.crt").write_text("CA")
    with pytest.raises(UsageError, match=message):
        kubeconfig.load(one_context(tmp_path, cluster, user), None)


def test_duplicate_names_in_one_file_are_refused_but_across_files_the_first_wins(tmp_path, monkeypatch):
    path = tmp_path / "dup"
    path.write_text(yaml.safe_dump({"clusters": [{"name": "c", "cluster": {"server": "https://a"}},
                                                 {"name": "c", "cluster": {"server": "https://b"}}]}))
    with pytest.raises(UsageError, match='two entries named "c"'):
        kubeconfig.load(str(path), "x")


def test_line_wrapped_base64_is_accepted_as_go_accepts_it(tmp_path):
    wrapped = base64.encodebytes(b"-----BEGIN CERTIFICATE-----\n" + b"A" * 100).decode()
    assert "\n" in wrapped.strip()
    conn = kubeconfig.load(one_context(tmp_path, {"server": "https://x", "certificate-authority-data": wrapped}), None)
    with open(conn.ca_file, "rb") as f:
        assert f.read().startswith(b"-----BEGIN CERTIFICATE-----")


def test_tilde_is_not_expanded(tmp_path):
    home_ca = tmp_path / "home" / "ca.crt"
    home_ca.parent.mkdir()
    home_ca.write_text("CA")
    with pytest.raises(UsageError, match=r"names certificate-authority .*/~/ca\.crt, which cannot be read"):
        kubeconfig.load(one_context(tmp_path, {"server": "https://x", "certificate-authority": "~/ca.crt"}), None)


def test_token_file_wins_over_the_inline_token(tmp_path):
    (tmp_path / "tok").write_text("from-file\n")
    conn = kubeconfig.load(one_context(tmp_path, user={"token": "inline", "tokenFile": "tok"}), None)
    assert conn.authorization() == "Bearer from-file"


def test_username_without_password_sends_basic_and_password_alone_is_refused(tmp_path):
    alone = kubeconfig.load(one_context(tmp_path, user={"username": "alice"}), None)
    assert alone.authorization() == "Basic " + base64.b64encode(b"alice:").decode()
    with pytest.raises(UsageError, match="no credentials.*kubectl would prompt"):
        kubeconfig.load(one_context(tmp_path, user={"password": "pw"}, name="k2"), None)


def test_http_server_gets_no_credentials_but_keeps_impersonation(tmp_path):
    conn = kubeconfig.load(one_context(tmp_path, {"server": "http://x:8080"}, {"token": "t", "as": "bob"}), None)
    assert conn.authorization() is None and conn.impersonation == (("Impersonate-User", "bob"),)


def test_impersonation_headers_and_flags_override_the_kubeconfig(tmp_path):
    user = {"token": "t", "as": "alice", "as-uid": "u-1", "as-groups": ["a", "b"],
            "as-user-extra": {"scopes": ["view", "edit"], "example.com/team name": ["x"]}}
    path = one_context(tmp_path, user=user)
    # Go's map order is random, so extras are compared as a set; a key's values keep their order
    headers = kubeconfig.load(path, None).impersonation
    assert headers[:4] == (("Impersonate-User", "alice"), ("Impersonate-Uid", "u-1"), ("Impersonate-Group", "a"),
                           ("Impersonate-Group", "b"))
    assert set(headers[4:]) == {("Impersonate-Extra-scopes", "view"), ("Impersonate-Extra-scopes", "edit"),
                                ("Impersonate-Extra-example.com%2Fteam%20name", "x")}
    flagged = kubeconfig.load(path, None, kubeconfig.Overrides(impersonate="root", impersonate_groups=("ops",)))
    assert flagged.impersonation[:3] == (("Impersonate-User", "root"), ("Impersonate-Uid", "u-1"),
                                         ("Impersonate-Group", "ops"))
    with pytest.raises(UsageError, match="without a user to impersonate"):
        kubeconfig.load(one_context(tmp_path, user={"token": "t"}, name="k3"), None,
                        kubeconfig.Overrides(impersonate_groups=("ops",)))


def test_exec_is_not_run_when_a_static_credential_is_set(tmp_path):
    marker = tmp_path / "ran"
    user = exec_user(tmp_path, f"open({str(marker)!r}, 'w').write('ran')\n")
    conn = kubeconfig.load(one_context(tmp_path, user=dict(user, token="static")), None)
    assert conn.authorization() == "Bearer static"
    (tmp_path / "c.crt").write_text("C")
    (tmp_path / "c.key").write_text("K")
    conn = kubeconfig.load(one_context(tmp_path, user=dict(user, **{"client-certificate": "c.crt",
                                                                    "client-key": "c.key"}), name="k2"), None)
    assert conn.authorization() is None and conn.cert_file == str(tmp_path / "c.crt")
    assert not marker.exists()


def test_exec_relative_command_is_the_kubeconfigs_folder(tmp_path):
    (tmp_path / "bin").mkdir()
    plugin = tmp_path / "bin" / "cred"
    plugin.write_text("#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
                      "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"rel\"}}'\n")
    plugin.chmod(0o755)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "./bin/cred"}}
    conn = kubeconfig.load(one_context(tmp_path, user=user), None)
    assert conn.authorization() == "Bearer rel"


def test_exec_cluster_info_and_expiry(tmp_path, monkeypatch):
    log = tmp_path / "runs"
    user = exec_user(tmp_path, (
        "import json, os\n"
        f"open({str(log)!r}, 'a').write(os.environ['KUBERNETES_EXEC_INFO'] + '\\n')\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': 'ExecCredential',\n"
        "                  'status': {'token': 't', 'expirationTimestamp': '2999-01-01T00:00:00.123456Z'}}))\n"
    ))
    user["exec"]["provideClusterInfo"] = True
    (tmp_path / "ca.crt").write_text("CA-PEM")
    cluster = {"server": "https://x:6443", "certificate-authority": "ca.crt", "tls-server-name": "api",
               "proxy-url": "http://p:3128", "extensions": [{"name": "client.authentication.k8s.io/exec",
                                                             "extension": {"audience": "kube"}}]}
    conn = kubeconfig.load(one_context(tmp_path, cluster, user), None)
    assert conn.authorization() == conn.authorization() == "Bearer t"
    runs = log.read_text().splitlines()
    assert len(runs) == 1  # a fractional-second expiry far away: run once
    info = json.loads(runs[0])
    assert info["spec"] == {"interactive": False, "cluster": {
        "server": "https://x:6443", "tls-server-name": "api", "certificate-authority-data": "Q0EtUEVN",
        "proxy-url": "http://p:3128", "config": {"audience": "kube"}}}


def test_rfc3339_with_fractions_and_offsets():
    assert kubeconfig.parse_rfc3339("2030-01-02T03:04:05.5+01:00").isoformat() == "2030-01-02T03:04:05.500000+01:00"
    assert kubeconfig.parse_rfc3339("2030-01-02T03:04:05Z").tzinfo is not None
    assert kubeconfig.parse_rfc3339("yesterday") is None


@pytest.mark.parametrize("server, env, expected", [
    ("https://api.example.com", {"HTTPS_PROXY": "proxy:3128"}, "http://proxy:3128"),
    ("https://api.example.com", {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:1"}, "http://up:1"),
    ("https://api.example.com", {"HTTP_PROXY": "http://p:1"}, None),
    ("http://api.example.com", {"HTTP_PROXY": "http://p:1"}, "http://p:1"),
    ("https://127.0.0.1:6443", {"HTTPS_PROXY": "http://p:1"}, None),
    ("https://localhost:6443", {"HTTPS_PROXY": "http://p:1"}, None),
    ("https://api.example.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, None),
    ("https://example.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, None),
    ("https://example.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example.com"}, "http://p:1"),
    ("https://notexample.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, "http://p:1"),
    ("https://10.1.2.3:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, None),
    ("https://10.1.2.3:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.1.2.3:443"}, "http://p:1"),
    ("https://10.1.2.3:6443", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.1.2.3:6443"}, None),
    ("https://api.example.com", {"HTTPS_PROXY": "socks5://p:1080", "no_proxy": "*"}, None),
    ("https://api.example.com", {"HTTPS_PROXY": "socks5://p:1080"}, "socks5://p:1080"),
])
def test_proxy_from_environment(server, env, expected):
    assert kubeconfig.proxy_from_environment(server, env) == expected


def test_context_names(tmp_path, monkeypatch):
    a = write(tmp_path / "a", contexts=[("b-ctx", {"cluster": "c"})])
    b = write(tmp_path / "b", contexts=[("a-ctx", {"cluster": "c"}), ("b-ctx", {"cluster": "d"})])
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([a, str(tmp_path / "missing"), b]))
    assert kubeconfig.context_names(None) == ["a-ctx", "b-ctx"]
    assert kubeconfig.context_names(a) == ["b-ctx"]


# -- kubectl's flags over the kubeconfig (clientcmd's ConfigOverrides; the differential suite runs them against kubectl)


def test_a_ca_or_skip_verify_flag_replaces_all_three_trust_fields():
    cluster = {"server": "https://x", "certificate-authority-data": "Q0E=", "tls-server-name": "old.name"}
    assert kubeconfig.Overrides(certificate_authority="ca.crt").over_cluster(cluster) == {
        "server": "https://x", "certificate-authority": "ca.crt", "tls-server-name": "old.name"}
    assert kubeconfig.Overrides(insecure_skip_tls_verify=True).over_cluster(cluster) == {
        "server": "https://x", "insecure-skip-tls-verify": True, "tls-server-name": "old.name"}
    both = kubeconfig.Overrides(insecure_skip_tls_verify=True, certificate_authority="ca.crt").over_cluster(cluster)
    assert both["insecure-skip-tls-verify"] is True and both["certificate-authority"] == "ca.crt"  # refused later


def test_a_server_flag_drops_the_kubeconfig_tls_server_name_and_nothing_given_changes_nothing():
    cluster = {"server": "https://x", "tls-server-name": "old.name", "insecure-skip-tls-verify": True}
    assert kubeconfig.Overrides(server="https://y").over_cluster(cluster) == {
        "server": "https://y", "insecure-skip-tls-verify": True}
    assert kubeconfig.Overrides(tls_server_name="new.name").over_cluster(cluster)["tls-server-name"] == "new.name"
    assert kubeconfig.Overrides().over_cluster(cluster) == cluster
    user = {"token": "t", "client-certificate-data": "Qw==", "client-key-data": "Sw==", "as": "a"}
    assert kubeconfig.Overrides().over_user(user) == user


def test_credential_flags_over_the_user():
    user = {"client-certificate-data": "Qw==", "client-key-data": "Sw==", "as-user-extra": {"a": ["1"]}}
    merged = kubeconfig.Overrides(client_certificate="c.crt", client_key="c.key", token="t", impersonate="root",
                                  impersonate_extra=(("b", "2"), ("b", "3"))).over_user(user)
    assert merged == {"client-certificate": "c.crt", "client-key": "c.key", "token": "t", "as": "root",
                      "as-user-extra": {"a": ["1"], "b": ["2", "3"]}}


def test_cluster_and_user_flags_pick_entries_and_name_what_is_missing(tmp_path):
    path = write(tmp_path / "k", clusters=[("c", {"server": "https://x"}), ("c2", {"server": "https://y"})],
                 users=[("u", {"token": "t"}), ("u2", {"token": "t2"})],
                 contexts=[("ctx", {"cluster": "c", "user": "u"})], current="ctx")
    conn = kubeconfig.load(path, None, kubeconfig.Overrides(cluster="c2", user="u2"))
    assert (conn.server, conn.cluster_name, conn.authorization()) == ("https://y", "c2", "Bearer t2")
    with pytest.raises(UsageError, match='--user "nobody": the kubeconfig defines no such user'):
        kubeconfig.load(path, None, kubeconfig.Overrides(user="nobody"))
    with pytest.raises(UsageError, match='--cluster "nowhere": the kubeconfig defines no such cluster'):
        kubeconfig.load(path, None, kubeconfig.Overrides(cluster="nowhere"))


def test_server_and_token_flags_need_no_kubeconfig():
    conn = kubeconfig.load(None, None, kubeconfig.Overrides(server="https://api.example.test:6443", token="t"))
    assert (conn.server, conn.namespace, conn.cluster_name, conn.authorization()) == (
        "https://api.example.test:6443", "default", None, "Bearer t")
    with pytest.raises(UsageError, match="the flags give no credentials"):
        kubeconfig.load(None, None, kubeconfig.Overrides(server="https://api.example.test:6443"))
    with pytest.raises(UsageError, match="--server is 'ftp://x': it must be an https://"):
        kubeconfig.load(None, None, kubeconfig.Overrides(server="ftp://x", token="t"))


def _jwt_with(payload: str) -> str:
    return "eyJhbGciOiJub25lIn0." + payload + ".c2ln"


def _claims(claims: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")


@pytest.mark.parametrize("payload, valid", [
    (_claims({"exp": 32503680000}), True),
    (_claims({"exp": 32503680000.9}), True),  # a float, truncated to whole seconds as jsonTime does
    (_claims({"exp": "32503680000"}), True),  # a JSON string holding a number decodes into json.Number too
    (_claims({"exp": 1_600_000_000}), False),
    (_claims({"sub": "no exp"}), False),  # the zero time: expired
])
def test_oidc_id_token_expiry_as_client_go_reads_it(payload, valid):
    assert kubeconfig._id_token_valid(_jwt_with(payload)) is valid


def test_oidc_id_token_within_ten_seconds_of_exp_is_expired():
    now = time.time()
    assert kubeconfig._id_token_valid(_jwt_with(_claims({"exp": now + 5}))) is False
    assert kubeconfig._id_token_valid(_jwt_with(_claims({"exp": now + 60}))) is True


@pytest.mark.parametrize("token", [
    "not-a-jwt", "a.b", "a.b.c.d",
    _jwt_with(_claims({"exp": 32503680000}) + "=="),  # RawURLEncoding takes no padding
    _jwt_with(_claims({"exp": True})),
    _jwt_with(_claims({"exp": [1]})),
    _jwt_with(base64.urlsafe_b64encode(b"[1, 2]").decode().rstrip("=")),
    _jwt_with("!!!"),
])
def test_oidc_id_token_that_is_no_valid_jwt_is_refused(token):
    with pytest.raises(ValueError, match="not a valid JWT"):
        kubeconfig._id_token_valid(token)
