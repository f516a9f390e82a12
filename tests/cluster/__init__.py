"""The real Kubernetes control plane the tests, the demo and the benchmarks run against (see docs/testing.md)."""
