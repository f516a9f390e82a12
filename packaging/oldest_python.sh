#!/usr/bin/env bash
# The oldest Python the plugin supports (setup.cfg's python_requires: 3.9), for running the krew archive on it
# (tests/test_krew_archive.py). Prints a folder whose `python3` is that Python.
#
# Debian 11 (bullseye) ships CPython 3.9: its packages are fetched from Debian's archive with apt-get, through a
# private apt state (the system's sources and package database are not touched), and unpacked with dpkg -x into
# $XDG_CACHE_HOME/kubectl-harness-rollback/python3.9 (once). Needs apt-get and dpkg (Debian or Ubuntu), amd64 or
# arm64. The `python3` there is a wrapper that points the interpreter at its unpacked libraries.
set -euo pipefail

cache="${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-harness-rollback/python3.9"
if [ -x "$cache/bin/python3" ] && "$cache/bin/python3" -c 'import ssl, zlib' 2>/dev/null; then
  echo "$cache/bin"
  exit 0
fi
for tool in apt-get dpkg; do
  command -v "$tool" >/dev/null || { echo "oldest_python.sh: $tool is needed (Debian or Ubuntu)" >&2; exit 1; }
done
arch="$(dpkg --print-architecture)"
case "$arch" in amd64 | arm64) ;; *) echo "oldest_python.sh: no bullseye Python 3.9 for $arch here" >&2; exit 1 ;; esac
triplet="$([ "$arch" = amd64 ] && echo x86_64-linux-gnu || echo aarch64-linux-gnu)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || keyring=/usr/share/keyrings/debian-archive-bullseye-stable.gpg
cat >"$work/sources.list" <<EOF
deb [signed-by=$keyring] http://deb.debian.org/debian bullseye main
deb [signed-by=$keyring] http://deb.debian.org/debian-security bullseye-security main
EOF
apt=(apt-get -q -o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$work/lists"
     -o "Dir::Cache=$work/cache" -o Dir::State::status=/dev/null -o APT::Sandbox::User=root)
"${apt[@]}" update >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; exit 1; }
(cd "$work/debs" && "${apt[@]}" download python3.9-minimal libpython3.9-minimal libpython3.9-stdlib libssl1.1 \
  libmpdec3 libffi7 >>"$work/apt.log" 2>&1) || { cat "$work/apt.log" >&2; exit 1; }
for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$work/root"; done

rm -rf "$cache"
mkdir -p "$(dirname "$cache")"
mv "$work/root" "$cache"
mkdir -p "$cache/bin"
cat >"$cache/bin/python3" <<EOF
#!/bin/sh
# Debian bullseye's CPython 3.9, unpacked by packaging/oldest_python.sh.
LD_LIBRARY_PATH="$cache/usr/lib/$triplet\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" PYTHONHOME="$cache/usr" \\
  exec "$cache/usr/bin/python3.9" "\$@"
EOF
chmod +x "$cache/bin/python3"
"$cache/bin/python3" -c 'import ssl, zlib' >&2
echo "$cache/bin"
