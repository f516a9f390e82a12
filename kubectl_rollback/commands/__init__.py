"""The work behind each target (target.py; targets.select picks one) and behind every other verb. Each module takes a
request, talks to the cluster through kube.Kube, and returns a result that prints itself (output.Result); none prints
results or exits itself."""
