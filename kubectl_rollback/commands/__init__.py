"""One module per verb. Each takes plain options, talks to the cluster through kube.Kube, and returns plain data
that the CLI renders; none of them prints results itself."""
