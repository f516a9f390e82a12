#!/usr/bin/env bash
# Fetches a real Prometheus server for the verify tests (tests/prometheus_fixture.py): Debian's `prometheus` package,
# downloaded and unpacked (apt-get download + dpkg-deb -x), never installed, so no service starts. Idempotent: an
# existing binary in the cache is kept. Called by `make testenv` after tests/cluster/build.sh.
#
# Environment: as build.sh's: KHR_K8S_VERSION picks the test environment's folder (Prometheus is the same in each),
# KHR_TESTENV_BIN overrides it.
set -euo pipefail

BIN_DIR=${KHR_TESTENV_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-harness-rollback/testenv/${KHR_K8S_VERSION:-1.35}/bin}
say() { printf '[testenv] %s\n' "$*" >&2; }

if [ -x "$BIN_DIR/prometheus" ]; then
  say "prometheus present in $BIN_DIR"
  exit 0
fi
mkdir -p "$BIN_DIR"
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/khr-prometheus.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
say "prometheus: downloading Debian's package (apt-get download) into $SCRATCH"
download() { (cd "$SCRATCH" && apt-get -q download prometheus >download.log 2>&1); }
if ! download; then
  # A fresh machine may have no package lists yet (CI runs as root; elsewhere, say what to run).
  if [ "$(id -u)" = 0 ]; then
    say "prometheus: no package lists yet; apt-get update"
    apt-get -q update >"$SCRATCH/update.log" 2>&1 || { cat "$SCRATCH/update.log" >&2; exit 1; }
  fi
  if ! download; then
    cat "$SCRATCH/download.log" >&2
    say "apt-get download prometheus failed; run apt-get update (as root) if the package lists are stale"
    exit 1
  fi
fi
dpkg-deb -x "$SCRATCH"/prometheus_*.deb "$SCRATCH/root"
install -m 0755 "$SCRATCH/root/usr/bin/prometheus" "$BIN_DIR/prometheus"
say "prometheus: $("$BIN_DIR/prometheus" --version 2>&1 | head -1)"
