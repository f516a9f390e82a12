"""`make demo`: a local control plane, and a walk through the plugin as an on-call engineer would use it.

Every step is a real command (kubectl, or `kubectl harness-rollback` found on PATH), printed before it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.cluster.controlplane import ControlPlane, bin_dir, sigterm_as_interrupt
from tests.cluster.nodesim import NodeSimulator
from tests.manifests import colour_deployment, colour_service, deployment

NS = "demo"
IDENTITY = ["--workflow-id", "wf-deploy-web", "--service-id", "svc-web", "--infra-id", "infra-demo"]


class Shell:
    def __init__(self, kubeconfig: str, cache: str):
        path = os.pathsep.join([str(Path(sys.executable).parent), str(bin_dir()), os.environ.get("PATH", "")])
        self.env = dict(os.environ, KUBECONFIG=kubeconfig, KUBECACHEDIR=cache, PATH=path)

    def run(self, *args: str, stdin: str = None, expect: int = 0) -> None:
        shown = " ".join(a if " " not in a else repr(a) for a in args)
        print(f"\n$ {shown}" + (" <<manifest" if stdin else ""), flush=True)
        proc = subprocess.run(list(args), input=stdin, env=self.env, text=True)
        if proc.returncode != expect:
            sys.exit(f"demo: expected exit {expect}, got {proc.returncode}")

    def say(self, text: str) -> None:
        print(f"\n# {text}", flush=True)






def walk(sh: Shell) -> None:
    kubectl, plugin = "kubectl", ["kubectl", "harness-rollback"]
    sh.run(kubectl, "create", "namespace", NS)
    sh.say("Rolling deployments: two good releases of deployment/web, recorded by the pipeline in one line each")
    for tag in ("1.0", "1.1"):
        sh.run(kubectl, "apply", "-n", NS, "-f", "-", stdin=deployment("web", f"registry.example/web:{tag}"))
        sh.run(*plugin, "record", "deployment/web", "--follow", "--timeout", "60s", *IDENTITY, "-n", NS)
    sh.say("A third release whose pods never become ready (the node simulator keeps images tagged 'broken' unready)")
    broken = deployment("web", "registry.example/web:1.2-broken", progress_deadline=8)
    sh.run(kubectl, "apply", "-n", NS, "-f", "-", stdin=broken)
    sh.run(*plugin, "record", "deployment/web", "--follow", "--timeout", "60s", *IDENTITY, "-n", NS, expect=4)
    sh.say("The incident: what is live, what would we go back to, and why")
    sh.run(*plugin, "history", "deployment/web", "-n", NS)
    sh.run(*plugin, "rollback", "deployment/web", "--dry-run", "-n", NS)
    sh.run(*plugin, "rollback", "deployment/web", "--wait", "--timeout", "60s", "-n", NS)
    sh.run(*plugin, "history", "deployment/web", "-n", NS)
    sh.say("Running it again is safe: the last good revision is live, so there is nothing to do")
    sh.run(*plugin, "rollback", "deployment/web", "-n", NS)
    sh.run(kubectl, "get", "events", "-n", NS, "--field-selector", "reason=HarnessRollback")

    sh.say("Blue/Green: blue serves, green is deployed to stage and swapped in, then found bad")
    sh.run(kubectl, "apply", "-n", NS, "-f", "-", stdin=colour_service("shop", "shop", "blue", "primary"))
    sh.run(kubectl, "apply", "-n", NS, "-f", "-", stdin=colour_service("shop-stage", "shop", "green", "stage"))
    for color, tag in (("blue", "2.0"), ("green", "2.1")):
        manifest = colour_deployment("shop", color, f"registry.example/shop:{tag}")
        sh.run(kubectl, "apply", "-n", NS, "-f", "-", stdin=manifest)
        sh.run(*plugin, "record", f"deployment/shop-{color}", "--follow", "--timeout", "60s", *IDENTITY, "-n", NS)
    for svc, color in (("shop", "green"), ("shop-stage", "blue")):
        patch = json.dumps({"spec": {"selector": {"harness.io/color": color}}})
        sh.run(kubectl, "patch", "-n", NS, f"service/{svc}", "-p", patch)
    sh.run(*plugin, "record", "deployment/shop-green", "--status", "Failed", "-n", NS)
    sh.run(*plugin, "history", "service/shop", "-n", NS)
    sh.run(*plugin, "rollback", "service/shop", "--wait", "--timeout", "60s", "-n", NS)
    sh.run(kubectl, "get", "service", "shop", "shop-stage", "-n", NS, "-o",
           "custom-columns=SERVICE:.metadata.name,COLOUR:.spec.selector.harness\\.io/color")


def main() -> None:
    sigterm_as_interrupt()
    keep = "--keep" in sys.argv
    workdir = Path(tempfile.mkdtemp(prefix="khr-demo-"))
    print(f"starting a local control plane in {workdir} ...", flush=True)
    with ControlPlane(workdir) as plane:
        sim = NodeSimulator(plane.admin_api()).start()
        try:
            walk(Shell(plane.admin_kubeconfig, str(workdir / "kube-cache")))
            print("\ndemo complete.", flush=True)
            if keep:
                print(f"the cluster stays up until Ctrl-C: export KUBECONFIG={plane.admin_kubeconfig}", flush=True)
                plane.serve_until_interrupted()
        finally:
            sim.stop()


if __name__ == "__main__":
    main()
