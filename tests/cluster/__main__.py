"""`make cluster`: the control plane and the node simulator in the foreground, for trying things by hand."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from tests.cluster.controlplane import ControlPlane, sigterm_as_interrupt
from tests.cluster.nodesim import NodeSimulator


def main() -> None:
    sigterm_as_interrupt()
    workdir = Path(os.environ.get("KHR_CLUSTER_DIR") or tempfile.mkdtemp(prefix="khr-cluster-"))
    print(f"starting etcd, kube-apiserver and kube-controller-manager in {workdir} ...", file=sys.stderr)
    with ControlPlane(workdir) as plane:
        sim = NodeSimulator(plane.admin_api()).start()
        print(f"ready. In another shell:\n\nexport KUBECONFIG={plane.admin_kubeconfig}\n", flush=True)
        print(f"(limited user: {plane.limited_kubeconfig}; logs in {workdir}; Ctrl-C stops it)", file=sys.stderr)
        try:
            plane.serve_until_interrupted()
        finally:
            sim.stop()


if __name__ == "__main__":
    main()
