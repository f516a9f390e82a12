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
# The archive entries come from the machine's own apt sources (deb822 or one-line), with bullseye for their suites:
# no mirror is named here.
python3 - "$keyring" /etc/apt/sources.list.d/*.sources /etc/apt/sources.list >"$work/sources.list" <<'PY'
import os, re, sys
keyring, entries = sys.argv[1], set()
def add(types, uris, suites):
    if "deb" not in types:
        return
    for uri in uris:
        for suite in suites:
            if "-" not in suite:
                entries.add(f"deb [signed-by={keyring}] {uri} bullseye main")
            elif suite.endswith("-security"):
                entries.add(f"deb [signed-by={keyring}] {uri} bullseye-security main")
for path in sys.argv[2:]:
    if not os.path.isfile(path):
        continue
    text = open(path, encoding="utf-8").read()
    if path.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            add(fields.get("Types", "").split(), fields.get("URIs", "").split(), fields.get("Suites", "").split())
    else:
        for line in text.splitlines():
            words = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                add(["deb"], [words[1]], [words[2]])
print("\n".join(sorted(entries)))
PY
[ -s "$work/sources.list" ] || { echo "oldest_python.sh: no Debian archive in this machine's apt sources" >&2; exit 1; }
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
