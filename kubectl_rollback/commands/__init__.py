"""The work behind each target (targets.py) and behind `record`. Each module takes a request, talks to the cluster
through kube.Kube, and returns a result that prints itself (output.Result); none prints results or exits itself."""
