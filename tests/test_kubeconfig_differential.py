"""The same kubeconfig, flags and environment given to the real kubectl and to the plugin: they must reach the same
server with the same TLS name, identity, impersonation, proxy and namespace, or both refuse.

Each scenario writes kubeconfig files, runs `kubectl get deployment web` and `kubectl-harness-rollback history
deployment/web` against local recorders (tests/cluster/recorder.py), and compares what arrived. A scenario also
states what must have arrived, so that two clients making the same mistake cannot pass. The rule the suite
enforces (docs/kubeconfig.md): if kubectl would connect differently, it is a bug.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import pytest
import yaml

from tests.cluster.controlplane import bin_dir
from tests.cluster.recorder import (
    Certs,
    ConnectProxy,
    RecordingServer,
    Socks5Proxy,
    local_non_loopback_ipv4,
    read_log,
    write_exec_plugin,
)

VENV_BIN = Path(sys.executable).parent
V1, V1BETA1 = "client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY",
                   "all_proxy", "KUBECONFIG")


class Lab:
    """The recorders, certificates, proxies and credential plugin every scenario shares."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.certs = Certs(folder / "pki")
        self.ip = local_non_loopback_ipv4()
        if self.ip is None:
            pytest.fail("the proxy scenarios need a non-loopback IPv4 address on this machine (Go never proxies "
                        "loopback); none was found")
        names = ("127.0.0.1", "localhost", "api.example.test", self.ip)
        crt, key = self.certs.issue("main", "/CN=main", self.certs.ca, names)
        named_crt, named_key = self.certs.issue("named", "/CN=named", self.certs.ca, ("kube.internal",))
        self.alice = self.certs.issue("alice", "/CN=alice/O=devs", self.certs.client_ca)
        self.bob = self.certs.issue("bob", "/CN=bob", self.certs.client_ca)
        client_ca = self.certs.client_ca
        self.main = RecordingServer("main", cert=crt, key=key, client_ca=client_ca)
        self.second = RecordingServer("second", cert=crt, key=key, client_ca=client_ca)
        self.named = RecordingServer("named", cert=named_crt, key=named_key, client_ca=client_ca)
        self.remote = RecordingServer("remote", host=self.ip, cert=crt, key=key, client_ca=client_ca)
        self.plain = RecordingServer("plain")
        self.proxy = ConnectProxy()
        self.socks = Socks5Proxy(username="sam", password="s3cret")
        self.servers = (self.main, self.second, self.named, self.remote, self.plain)
        self.proxies = (self.proxy, self.socks)
        self.plugin = write_exec_plugin(folder / "bin" / "cred", sys.executable)

    def start(self) -> Lab:
        for part in (*self.servers, *self.proxies):
            part.start()
        return self

    def stop(self) -> None:
        for part in (*self.servers, *self.proxies):
            part.stop()

    def clear(self) -> None:
        for part in (*self.servers, *self.proxies):
            part.clear()

    def ca_data(self, wrap: bool = False) -> str:
        raw = Path(self.certs.ca).read_bytes()
        return base64.encodebytes(raw).decode() if wrap else base64.b64encode(raw).decode()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.fail("openssl is needed to make the recorders' certificates; install it (apt-get install openssl)")
    kubectl = bin_dir() / "kubectl"
    if not kubectl.exists():
        pytest.fail(f"kubectl is missing ({kubectl}); run `make testenv`")
    lab = Lab(tmp_path_factory.mktemp("kubeconfig-lab")).start()
    yield lab
    lab.stop()


def kubeconfig(cluster: dict, user: Optional[dict] = None, namespace: Optional[str] = None, **top) -> dict:
    context = {"cluster": "c", "user": "u"}
    if namespace:
        context["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "c", "cluster": cluster}],
            "users": [{"name": "u", "user": user or {}}], "contexts": [{"name": "ctx", "context": context}],
            "current-context": "ctx", **top}


def exec_user(lab: Lab, api_version: str = V1, mode: Optional[str] = "Never", command: Optional[str] = None,
              **env: str) -> dict:
    spec = {"apiVersion": api_version, "command": command or lab.plugin, "args": ["--from", "kubeconfig"],
            "env": [{"name": k, "value": v} for k, v in env.items()]}
    if mode:
        spec["interactiveMode"] = mode
    return {"exec": spec}


@dataclasses.dataclass
class Scenario:
    name: str
    files: Callable[[Lab, Path], dict]  # file name (in the scenario folder) -> kubeconfig (dict, or text)
    outcome: str = "same"  # same | refuse (kubectl fails, plugin exit 2) | unreachable (both fail to connect, exit 1)
    expect: dict = dataclasses.field(default_factory=dict)  # what must have arrived (see summary())
    args: tuple = ()
    flags: Callable[[Lab, Path], tuple] = lambda lab, folder: ()  # more args, made from the lab (its ports, files)
    env: Callable[[Lab, Path], dict] = lambda lab, folder: {}
    use_env_kubeconfig: bool = True  # KUBECONFIG=<the files, in order>; else nothing (args name --kubeconfig)
    prepare: Callable[[Lab, Path], None] = lambda lab, folder: None
    without_kubernetes: bool = False  # the plugin runs where the optional `kubernetes` package cannot be imported
    says: str = ""  # refuse / unreachable: what the plugin's one line must say


def main_cluster(lab: Lab, **extra) -> dict:
    return {"server": lab.main.url(), "certificate-authority": lab.certs.ca, **extra}


SCENARIOS = [
    # -- the five security faults of issue 10
    Scenario("insecure-skip-tls-verify as a string, CA that does not sign the server", lambda lab, d: {
        "k": kubeconfig({"server": lab.main.url(), "certificate-authority": lab.certs.other_ca,
                         "insecure-skip-tls-verify": "false"}, {"token": "t"})}, outcome="refuse"),
    Scenario("as and as-groups impersonate", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"token": "t", "as": "alice", "as-groups": ["devs", "ops"]})},
        expect={"authorization": "Bearer t", "impersonation": (("impersonate-group", "devs"),
                                                                ("impersonate-group", "ops"),
                                                                ("impersonate-user", "alice"))}),
    Scenario("as-uid and as-user-extra", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"token": "t", "as": "alice", "as-uid": "42",
                                            "as-user-extra": {"scopes": ["view"], "team/name": ["a b"]}})},
        expect={"impersonation": (("impersonate-extra-scopes", "view"), ("impersonate-extra-team%2fname", "a b"),
                                  ("impersonate-uid", "42"), ("impersonate-user", "alice"))}),
    Scenario("--as, --as-group and --as-uid override the kubeconfig", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"token": "t", "as": "alice", "as-groups": ["devs"]})},
        args=("--as", "root", "--as-group", "ops", "--as-group", "dba", "--as-uid", "7"),
        expect={"impersonation": (("impersonate-group", "ops"), ("impersonate-group", "dba"),
                                  ("impersonate-uid", "7"), ("impersonate-user", "root"))}),
    Scenario("--as-group without a user to impersonate", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"token": "t"})}, args=("--as-group", "ops"), outcome="refuse"),
    Scenario("token and tokenFile: the file wins", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"token": "inline", "tokenFile": "token.txt"})},
        prepare=lambda lab, d: (d / "token.txt").write_text("from-file\n"),
        expect={"authorization": "Bearer from-file"}),
    Scenario("exec and a static token: the token, exec never runs", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), dict(exec_user(lab, CRED_TOKEN="from-exec"), token="static"))},
        expect={"authorization": "Bearer static", "exec_runs": 0}),
    Scenario("exec and a client certificate: the certificate only", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), dict(exec_user(lab, CRED_TOKEN="from-exec"),
                                                **{"client-certificate": lab.alice[0], "client-key": lab.alice[1]}))},
        expect={"authorization": None, "client": "commonName=alice,organizationName=devs", "exec_runs": 0}),
    # -- proxies
    Scenario("HTTPS_PROXY from the environment", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab, server=lab.main.url("api.example.test")), {"token": "t"})},
        env=lambda lab, d: {"HTTPS_PROXY": lab.proxy.url},
        expect={"servers": ["main"], "proxy": [("CONNECT", "api.example.test:{port:main}", None)]}),
    Scenario("HTTPS_PROXY without a scheme, lower-case https_proxy ignored", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab, server=lab.remote.url(lab.ip)), {"token": "t"})},
        env=lambda lab, d: {"HTTPS_PROXY": lab.proxy.url[len("http://"):], "https_proxy": "http://127.0.0.1:9"},
        expect={"servers": ["remote"], "proxy": [("CONNECT", "{ip}:{port:remote}", None)]}),
    Scenario("NO_PROXY names the server's address", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab, server=lab.remote.url(lab.ip)), {"token": "t"})},
        env=lambda lab, d: {"HTTPS_PROXY": lab.proxy.url, "NO_PROXY": f"example.com,{lab.ip}"},
        expect={"servers": ["remote"], "proxy": []}),
    Scenario("no_proxy with a CIDR", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab, server=lab.remote.url(lab.ip)), {"token": "t"})},
        env=lambda lab, d: {"HTTPS_PROXY": lab.proxy.url, "no_proxy": lab.ip.rsplit(".", 1)[0] + ".0/24"},
        expect={"servers": ["remote"], "proxy": []}),
    Scenario("loopback is never proxied from the environment", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"token": "t"})},
        env=lambda lab, d: {"HTTPS_PROXY": lab.proxy.url}, expect={"servers": ["main"], "proxy": []}),
    Scenario("proxy-url with user:password, even for loopback", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab, **{"proxy-url": lab.proxy.url.replace("//", "//ann:p%40ss@")}),
                        {"token": "t"})},
        env=lambda lab, d: {"NO_PROXY": "*"},
        expect={"proxy": [("CONNECT", "127.0.0.1:{port:main}",
                           "Basic " + base64.b64encode(b"ann:p@ss").decode())]}),
    Scenario("socks5 proxy-url with credentials", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab, server=lab.main.url("api.example.test"),
                                     **{"proxy-url": f"socks5://sam:s3cret@127.0.0.1:{lab.socks.port}"}),
                        {"token": "t"})},
        expect={"servers": ["main"], "proxy": [("socks", "api.example.test:{port:main}", "sam:s3cret")]}),
    # -- TLS
    Scenario("insecure-skip-tls-verify with a CA", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab, **{"insecure-skip-tls-verify": True}), {"token": "t"})},
        outcome="refuse"),
    Scenario("insecure-skip-tls-verify, a server no CA vouches for", lambda lab, d: {
        "k": kubeconfig({"server": lab.named.url(), "insecure-skip-tls-verify": True}, {"token": "t"})},
        expect={"servers": ["named"], "authorization": "Bearer t"}),
    Scenario("a CA that does not sign the server", lambda lab, d: {
        "k": kubeconfig({"server": lab.main.url(), "certificate-authority": lab.certs.other_ca}, {"token": "t"})},
        outcome="unreachable"),
    Scenario("tls-server-name", lambda lab, d: {
        "k": kubeconfig({"server": lab.named.url(), "certificate-authority": lab.certs.ca,
                         "tls-server-name": "kube.internal"}, {"token": "t"})},
        expect={"servers": ["named"], "sni": "kube.internal"}),
    Scenario("line-wrapped base64 CA data", lambda lab, d: {
        "k": kubeconfig({"server": lab.main.url("localhost"), "certificate-authority-data": lab.ca_data(wrap=True)},
                        {"token": "t"})},
        expect={"servers": ["main"], "sni": "localhost"}),
    Scenario("CA file and CA data both set", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab, **{"certificate-authority-data": lab.ca_data()}), {"token": "t"})},
        outcome="refuse"),
    Scenario("~ in a path is not the home folder", lambda lab, d: {
        "k": kubeconfig({"server": lab.main.url(), "certificate-authority": "~/ca.crt"}, {"token": "t"})},
        prepare=lambda lab, d: shutil.copy(lab.certs.ca, d / "home" / "ca.crt"), outcome="refuse"),
    # -- identities
    Scenario("client certificate files", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"client-certificate": lab.alice[0], "client-key": lab.alice[1]})},
        expect={"client": "commonName=alice,organizationName=devs", "authorization": None}),
    Scenario("client certificate data", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {
            "client-certificate-data": base64.b64encode(Path(lab.bob[0]).read_bytes()).decode(),
            "client-key-data": base64.b64encode(Path(lab.bob[1]).read_bytes()).decode()})},
        expect={"client": "commonName=bob"}),
    Scenario("client certificate file and data both set", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {
            "client-certificate": lab.alice[0], "client-key": lab.alice[1],
            "client-certificate-data": base64.b64encode(Path(lab.bob[0]).read_bytes()).decode()})},
        outcome="refuse"),
    Scenario("username without a password", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"username": "alice"})},
        expect={"authorization": "Basic " + base64.b64encode(b"alice:").decode()}),
    Scenario("token and basic auth both set", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"token": "t", "username": "alice", "password": "pw"})},
        outcome="refuse"),
    Scenario("an http:// server gets no credentials, but impersonation", lambda lab, d: {
        "k": kubeconfig({"server": lab.plain.url()}, {"token": "t", "as": "alice"})},
        expect={"servers": ["plain"], "authorization": None,
                "impersonation": (("impersonate-user", "alice"),)}),
    Scenario("oidc auth-provider keeps tls-server-name", lambda lab, d: {
        "k": kubeconfig({"server": lab.named.url(), "certificate-authority": lab.certs.ca,
                         "tls-server-name": "kube.internal"},
                        {"auth-provider": {"name": "oidc", "config": {
                            "client-id": "kubectl", "idp-issuer-url": "https://issuer.example.test",
                            "id-token": ID_TOKEN}}})},
        expect={"servers": ["named"], "sni": "kube.internal", "authorization": "Bearer " + "ID_TOKEN"}),
    Scenario("oidc unexpired id-token, without the kubernetes package", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), oidc_user(ID_TOKEN))},
        without_kubernetes=True, expect={"authorization": "Bearer " + "ID_TOKEN"}),
    Scenario("oidc id-token that expires within 10 s, no refresh-token", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), oidc_user(jwt(time.time() + 5)))},
        without_kubernetes=True, outcome="refuse"),
    Scenario("oidc expired id-token whose issuer cannot be reached for the refresh", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), oidc_user(jwt(1_600_000_000), **{
            "idp-issuer-url": "https://127.0.0.1:9", "refresh-token": "r"}))}, outcome="unreachable",
        says="refreshing its expired oidc id-token failed"),
    Scenario("oidc id-token that is not a JWT", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), oidc_user("not-a-jwt"))}, outcome="refuse"),
    Scenario("oidc without client-id", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), oidc_user(ID_TOKEN, **{"client-id": ""}))}, outcome="refuse"),
    # -- exec credential plugins
    Scenario("exec v1 token", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), exec_user(lab, CRED_TOKEN="from-exec"))},
        expect={"authorization": "Bearer from-exec", "exec_runs": 1}),
    Scenario("exec v1beta1 client certificate (interactiveMode defaults to IfAvailable)", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), exec_user(lab, V1BETA1, mode=None, CRED_CERT=lab.bob[0],
                                                     CRED_KEY=lab.bob[1]))},
        expect={"client": "commonName=bob", "authorization": None, "exec_runs": 1}),
    Scenario("exec with provideClusterInfo: CA data, tls-server-name, proxy-url, extension config", lambda lab, d: {
        "k": kubeconfig({"server": lab.named.url(), "certificate-authority": lab.certs.ca,
                         "tls-server-name": "kube.internal", "proxy-url": lab.proxy.url,
                         "extensions": [{"name": "client.authentication.k8s.io/exec",
                                         "extension": {"audience": "kube", "tier": 2}}]},
                        dict(exec_user(lab, CRED_TOKEN="from-exec"),
                             exec=dict(exec_user(lab, CRED_TOKEN="from-exec")["exec"], provideClusterInfo=True)))},
        expect={"authorization": "Bearer from-exec", "exec_runs": 1, "sni": "kube.internal"}),
    Scenario("exec credential with a fractional-second expiry runs once", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), exec_user(lab, CRED_TOKEN="t", CRED_EXPIRY="2999-01-01T00:00:00.5Z"))},
        expect={"exec_runs": 1}),
    Scenario("exec with a relative command runs the kubeconfig folder's", lambda lab, d: {
        "conf/k": kubeconfig(main_cluster(lab), exec_user(lab, command="./bin/cred", CRED_TOKEN="right"))},
        prepare=lambda lab, d: (write_exec_plugin(d / "conf" / "bin" / "cred", sys.executable),
                                write_exec_plugin(d / "cwd" / "bin" / "cred", sys.executable)),
        expect={"authorization": "Bearer right", "exec_command": "conf/bin/cred"}),
    Scenario("exec interactiveMode Always without a terminal", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), exec_user(lab, mode="Always", CRED_TOKEN="t"))}, outcome="refuse"),
    Scenario("exec v1 without interactiveMode", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), exec_user(lab, mode=None, CRED_TOKEN="t"))}, outcome="refuse"),
    # -- loading, merging, selecting
    Scenario("duplicate names in one file", lambda lab, d: {
        "k": dict(kubeconfig(main_cluster(lab), {"token": "t"}),
                  users=[{"name": "u", "user": {"token": "t"}}, {"name": "u", "user": {"token": "other"}}])},
        outcome="refuse"),
    Scenario("several files: the first to define a name or current-context wins", lambda lab, d: {
        "a": kubeconfig(main_cluster(lab), {"token": "from-a"}, namespace="team-a"),
        "b": dict(kubeconfig({"server": lab.second.url(), "certificate-authority": lab.certs.ca},
                             {"token": "from-b"}), **{"current-context": "other", "contexts": [
                                 {"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "team-b"}},
                                 {"name": "other", "context": {"cluster": "c", "user": "u"}}]})},
        expect={"servers": ["main"], "authorization": "Bearer from-a",
                "deployment": ["/apis/apps/v1/namespaces/team-a/deployments/web"]}),
    Scenario("--context picks a context from a later file", lambda lab, d: {
        "a": kubeconfig(main_cluster(lab), {"token": "from-a"}),
        "b": {"clusters": [{"name": "second", "cluster": {"server": lab.second.url(),
                                                          "certificate-authority": lab.certs.ca}}],
              "users": [{"name": "ub", "user": {"token": "from-b"}}],
              "contexts": [{"name": "other", "context": {"cluster": "second", "user": "ub", "namespace": "ns-b"}}]}},
        args=("--context", "other"),
        expect={"servers": ["second"], "authorization": "Bearer from-b",
                "deployment": ["/apis/apps/v1/namespaces/ns-b/deployments/web"]}),
    Scenario("--kubeconfig wins over KUBECONFIG; -n over the context's namespace", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"token": "explicit"}, namespace="ignored")},
        use_env_kubeconfig=False, args=("--kubeconfig", "{folder}/k", "-n", "chosen"),
        env=lambda lab, d: {"KUBECONFIG": str(d / "absent")},
        expect={"authorization": "Bearer explicit", "deployment": ["/apis/apps/v1/namespaces/chosen/deployments/web"]}),
    Scenario("no namespace anywhere means default; a server path prefix is kept", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab, server=lab.main.url() + "/prefix"), {"token": "t"})},
        expect={"deployment": ["/prefix/apis/apps/v1/namespaces/default/deployments/web"]}),
    Scenario("CA data", lambda lab, d: {
        "k": kubeconfig({"server": lab.main.url(), "certificate-authority-data": lab.ca_data()}, {"token": "t"})},
        expect={"servers": ["main"], "authorization": "Bearer t"}),
    Scenario("a user the kubeconfig does not define: kubectl would prompt, without a terminal both refuse",
             lambda lab, d: {"k": dict(kubeconfig(main_cluster(lab)), users=[])}, outcome="refuse"),
    Scenario("a password alone identifies no one", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"password": "pw"})}, outcome="refuse"),
    # -- kubectl's other connection flags over the kubeconfig (clientcmd's ConfigOverrides)
    Scenario("--server, --certificate-authority and --token with no kubeconfig at all", lambda lab, d: {},
             flags=lambda lab, d: ("--server", lab.main.url(), "--certificate-authority", lab.certs.ca,
                                   "--token", "from-flag"),
             expect={"servers": ["main"], "authorization": "Bearer from-flag"}),
    Scenario("-s replaces the kubeconfig's server, its credentials stay", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"token": "t"})},
        flags=lambda lab, d: ("-s", lab.second.url()),
        expect={"servers": ["second"], "authorization": "Bearer t"}),
    Scenario("--server clears the kubeconfig's tls-server-name", lambda lab, d: {
        "k": kubeconfig({"server": lab.named.url(), "certificate-authority": lab.certs.ca,
                         "tls-server-name": "kube.internal"}, {"token": "t"})},
        flags=lambda lab, d: ("--server", lab.main.url("localhost")),
        expect={"servers": ["main"], "sni": "localhost"}),
    Scenario("--tls-server-name", lambda lab, d: {
        "k": kubeconfig({"server": lab.named.url(), "certificate-authority": lab.certs.ca}, {"token": "t"})},
        args=("--tls-server-name", "kube.internal"), expect={"servers": ["named"], "sni": "kube.internal"}),
    Scenario("--insecure-skip-tls-verify=true clears the kubeconfig's CA", lambda lab, d: {
        "k": kubeconfig({"server": lab.named.url(), "certificate-authority": lab.certs.other_ca}, {"token": "t"})},
        args=("--insecure-skip-tls-verify=true",), expect={"servers": ["named"]}),
    Scenario("--certificate-authority replaces the kubeconfig's CA data", lambda lab, d: {
        "k": kubeconfig({"server": lab.main.url(), "certificate-authority-data": base64.b64encode(
            Path(lab.certs.other_ca).read_bytes()).decode()}, {"token": "t"})},
        flags=lambda lab, d: ("--certificate-authority", lab.certs.ca), expect={"servers": ["main"]}),
    Scenario("--cluster and --user pick other entries than the context's", lambda lab, d: {
        "k": dict(kubeconfig(main_cluster(lab), {"token": "t"}),
                  clusters=[{"name": "c", "cluster": main_cluster(lab)},
                            {"name": "c2", "cluster": main_cluster(lab, server=lab.second.url())}],
                  users=[{"name": "u", "user": {"token": "t"}}, {"name": "u2", "user": {"token": "t2"}}])},
        args=("--cluster", "c2", "--user", "u2"), expect={"servers": ["second"], "authorization": "Bearer t2"}),
    Scenario("--user naming no user", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"token": "t"})}, args=("--user", "nobody"), outcome="refuse"),
    Scenario("--cluster naming no cluster", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"token": "t"})}, args=("--cluster", "nowhere"), outcome="refuse"),
    Scenario("--token over a user with a tokenFile: the file still wins", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"tokenFile": "token.txt"})},
        prepare=lambda lab, d: (d / "token.txt").write_text("from-file\n"), args=("--token", "from-flag"),
        expect={"authorization": "Bearer from-file"}),
    Scenario("--client-certificate and --client-key replace the kubeconfig's certificate data", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {
            "client-certificate-data": base64.b64encode(Path(lab.bob[0]).read_bytes()).decode(),
            "client-key-data": base64.b64encode(Path(lab.bob[1]).read_bytes()).decode()})},
        flags=lambda lab, d: ("--client-certificate", lab.alice[0], "--client-key", lab.alice[1]),
        expect={"client": "commonName=alice,organizationName=devs"}),
    Scenario("--username and --password over a token user", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"token": "t"})}, args=("--username", "ann", "--password", "pw"),
        outcome="refuse"),
    Scenario("--username and --password", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab))}, args=("--username", "ann", "--password", "pw"),
        expect={"authorization": "Basic " + base64.b64encode(b"ann:pw").decode()}),
    Scenario("--as-user-extra", lambda lab, d: {
        "k": kubeconfig(main_cluster(lab), {"token": "t"})},
        args=("--as", "root", "--as-user-extra", "scopes=view", "--as-user-extra", "scopes=edit"),
        expect={"impersonation": (("impersonate-extra-scopes", "view"), ("impersonate-extra-scopes", "edit"),
                                  ("impersonate-user", "root"))}),
]

def jwt(exp: float) -> str:
    """The unsigned JWT an oidc provider would have issued, expiring at exp."""
    return ".".join(base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=") for part in (
        {"alg": "none", "typ": "JWT"}, {"iss": "https://issuer.example.test", "aud": "kubectl", "sub": "ann",
                                        "exp": exp})) + ".c2ln"


def oidc_user(id_token: str, **config) -> dict:
    return {"auth-provider": {"name": "oidc", "config": {
        "client-id": "kubectl", "idp-issuer-url": "https://issuer.example.test", "id-token": id_token, **config}}}


# A token that expires far in the future. Expectations name it, the lab's ports ("{port:main}") and its IP ("{ip}")
# before the lab exists; resolve() fills them in.
ID_TOKEN = jwt(32503680000)


def resolve(value, lab: Lab):
    """Expectations name ports and the lab's IP before the lab exists; fill them in."""
    if isinstance(value, str):
        for server in lab.servers:
            value = value.replace("{port:" + server.name + "}", str(server.port))
        return value.replace("ID_TOKEN", ID_TOKEN).replace("{ip}", lab.ip)
    if isinstance(value, dict):
        return {k: resolve(v, lab) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(resolve(v, lab) for v in value)
    return value


def run(lab: Lab, folder: Path, scenario: Scenario, tool: str) -> tuple:
    """One tool on the scenario: (exit code, stderr, what arrived)."""
    files = scenario.files(lab, folder)
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    env.update(HOME=str(folder / "home"), KUBECACHEDIR=str(folder / f"cache-{tool}"),
               CRED_LOG=str(folder / f"exec-{tool}.log"),
               PATH=os.pathsep.join([str(VENV_BIN), str(bin_dir()), os.environ.get("PATH", "")]))
    if scenario.use_env_kubeconfig:
        env["KUBECONFIG"] = os.pathsep.join(str(folder / name) for name in files)
    env.update(scenario.env(lab, folder))
    args = [a.replace("{folder}", str(folder)) for a in scenario.args] + list(scenario.flags(lab, folder))
    plugin = [str(VENV_BIN / "kubectl-harness-rollback")]
    if scenario.without_kubernetes:  # an import of a module set to None in sys.modules fails, as when not installed
        plugin = [sys.executable, "-c", "import sys; sys.modules['kubernetes'] = None\n"
                  "from kubectl_rollback.cli import main; main()"]
    command = ([str(bin_dir() / "kubectl"), "get", "deployment", "web"] if tool == "kubectl"
               else [*plugin, "history", "deployment/web"])
    lab.clear()
    proc = subprocess.run([*command, *args, "--request-timeout", "10s"], env=env, cwd=folder / "cwd",
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    requests = [r for server in lab.servers for r in server.log]
    proxied = [p for proxy in lab.proxies for p in proxy.log]
    return proc.returncode, proc.stderr, summary(requests, proxied, read_log(folder / f"exec-{tool}.log"), folder)


def summary(requests: list, proxied: list, execs: list, folder: Path) -> dict:
    identities = {(r["sni"], r["authorization"], r["client"], tuple(sorted(r["impersonation"], key=lambda h: h[0])))
                  for r in requests}
    result = {
        "servers": sorted({r["server"] for r in requests}),
        "identities": sorted(identities, key=repr),
        "deployment": sorted({r["path"] for r in requests if r["path"].endswith("/deployments/web")}),
        "proxy": sorted({("CONNECT", p["target"], p["proxy_authorization"]) if "method" in p
                         else ("socks", p["target"], f"{p['username']}:{p['password']}") for p in proxied}),
        "exec_runs": len(execs),
        "exec": [(e["command"].replace(str(folder.resolve()) + "/", ""), e["argv"], e["info"]) for e in execs],
    }
    if len(identities) == 1:
        (sni, authorization, client, impersonation), = identities
        result.update(sni=sni, authorization=authorization, client=client, impersonation=impersonation)
    if execs:
        result["exec_command"] = result["exec"][0][0]
    return result


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_kubectl_and_the_plugin_connect_alike(lab, tmp_path, scenario):
    folder = tmp_path
    for sub in ("home", "cwd"):
        (folder / sub).mkdir()
    scenario.prepare(lab, folder)
    for name, config in scenario.files(lab, folder).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    kubectl_rc, kubectl_err, by_kubectl = run(lab, folder, scenario, "kubectl")
    plugin_rc, plugin_err, by_plugin = run(lab, folder, scenario, "plugin")
    report = f"\nkubectl (exit {kubectl_rc}): {kubectl_err.strip()}\n{by_kubectl}\n" \
             f"plugin (exit {plugin_rc}): {plugin_err.strip()}\n{by_plugin}"
    nothing = {"servers": [], "proxy": [], "exec_runs": 0}
    if scenario.outcome == "same":
        assert by_kubectl["servers"], "kubectl reached no recorder" + report
        assert by_plugin == by_kubectl, "the plugin connected differently from kubectl" + report
        for key, value in resolve(scenario.expect, lab).items():
            assert by_kubectl.get(key) == value, f"{key}: expected {value!r}" + report
        assert plugin_rc == 1 and "NotFound (404)" in plugin_err, report  # it asked, and heard the recorder's 404
    else:
        assert kubectl_rc != 0 and {k: by_kubectl[k] for k in nothing} == nothing, "kubectl did not refuse" + report
        assert {k: by_plugin[k] for k in nothing} == nothing, "the plugin sent something" + report
        assert plugin_rc == (2 if scenario.outcome == "refuse" else 1), report
        assert len(plugin_err.strip().splitlines()) == 1 and "Traceback" not in plugin_err, report
        assert scenario.says in plugin_err, report
