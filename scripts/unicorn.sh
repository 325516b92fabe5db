#!/usr/bin/env bash
# Brings libunicorn 2.1.x (Debian stable's libunicorn-dev, with the static
# libunicorn.a) into a project-local prefix, .deps/unicorn, without touching
# the system: no apt source is added, nothing is installed.
#
# How: apt-get with a private source list (Debian stable, "trixie"), private
# package lists and cache. apt checks the signature of the suite's InRelease
# against the keys in debian-archive-keyring (Debian 12's keyring already
# holds trixie's keys) and the .deb's SHA256 against the signed Packages
# index, so nothing is trusted blindly. The .deb is unpacked with dpkg-deb.
#
# The cgo binding (vmm/unicorn) links .deps/unicorn/.../libunicorn.a and
# nothing else. A second run finds the prefix and does nothing.
#
# Environment:
#   VIRTSIM_UNICORN_SUITE    the Debian suite to take it from (default trixie)
#   VIRTSIM_UNICORN_MIRROR   the Debian mirror (default: the one this machine
#                            already uses, else deb.debian.org)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
want_major_minor="2.1"
prefix="$root/.deps/unicorn"
stamp="$prefix/VERSION"

if [ -f "$stamp" ] && [ -f "$prefix/usr/lib/x86_64-linux-gnu/libunicorn.a" ] &&
	grep -q "^$want_major_minor\." "$stamp"; then
	exit 0
fi

die() {
	echo "unicorn: $*" >&2
	echo "unicorn: virtsim needs libunicorn $want_major_minor.x (Debian's libunicorn-dev from Debian 13 \"trixie\" or later)." >&2
	echo "unicorn: what to do: make Debian's package archive reachable and run 'make deps' again," >&2
	echo "unicorn: or unpack a libunicorn-dev_$want_major_minor.*_amd64.deb by hand: dpkg-deb -x FILE $prefix && echo $want_major_minor.x > $stamp" >&2
	exit 1
}

[ "$(uname -m)" = x86_64 ] || die "only x86_64 hosts are supported (this is $(uname -m))"
for tool in apt-get dpkg-deb; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found: this script needs a Debian (or derived) system"
done

suite="${VIRTSIM_UNICORN_SUITE:-trixie}"
mirror="${VIRTSIM_UNICORN_MIRROR:-}"
if [ -z "$mirror" ]; then
	# The mirror this machine already uses for Debian itself.
	mirror="$(grep -rhoE 'https?://[^ ]*/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
		grep -v -- '-security' | head -n1 | tr -d ' ' || true)"
	mirror="${mirror%/}"
	[ -n "$mirror" ] || mirror="http://deb.debian.org/debian"
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || die "$keyring is missing (package debian-archive-keyring): cannot verify the archive"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/parts" "$work/prefs"
echo "deb [signed-by=$keyring] $mirror $suite main" >"$work/sources.list"
apt_opts=(
	-o "Dir::Etc::sourcelist=$work/sources.list"
	-o "Dir::Etc::sourceparts=$work/parts"
	-o "Dir::Etc::preferencesparts=$work/prefs"
	-o "Dir::Etc::preferences=$work/prefs/none"
	-o "Dir::State::Lists=$work/lists"
	-o "Dir::Cache=$work/cache"
	-o "APT::Sandbox::User=root"
	-o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
	-o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
	-o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false"
	-o "Acquire::IndexTargets::deb::CNF::DefaultEnabled=false"
	-o "Acquire::Languages=none"
)
echo "unicorn: fetching libunicorn-dev from Debian $suite ($mirror) into .deps/unicorn" >&2
if ! apt-get -q "${apt_opts[@]}" update >"$work/update.log" 2>&1; then
	cat "$work/update.log" >&2
	die "could not read Debian $suite's package index (is $mirror reachable? is its signature valid?)"
fi
if grep -qiE "^(W|E):.*(NO_PUBKEY|not signed|signature)" "$work/update.log"; then
	cat "$work/update.log" >&2
	die "Debian $suite's index could not be verified"
fi
version="$(apt-cache "${apt_opts[@]}" show --no-all-versions libunicorn-dev 2>/dev/null | sed -n 's/^Version: //p' | head -n1)"
[ -n "$version" ] || die "Debian $suite has no libunicorn-dev"
case "$version" in
"$want_major_minor".*) ;;
*) die "Debian $suite offers libunicorn-dev $version, not $want_major_minor.x" ;;
esac
(cd "$work" && apt-get -q "${apt_opts[@]}" download "libunicorn-dev=$version" >"$work/download.log" 2>&1) || {
	cat "$work/download.log" >&2
	die "could not download libunicorn-dev $version"
}
deb="$(ls "$work"/libunicorn-dev_*.deb)"
rm -rf "$prefix.new"
mkdir -p "$prefix.new"
dpkg-deb -x "$deb" "$prefix.new"
[ -f "$prefix.new/usr/lib/x86_64-linux-gnu/libunicorn.a" ] || die "libunicorn-dev $version carries no static libunicorn.a"
[ -f "$prefix.new/usr/include/unicorn/unicorn.h" ] || die "libunicorn-dev $version carries no unicorn.h"
echo "${version%%-*} (Debian libunicorn-dev $version from $suite)" >"$prefix.new/VERSION"
rm -rf "$prefix"
mv "$prefix.new" "$prefix"
echo "unicorn: libunicorn $(cat "$stamp") ready in .deps/unicorn" >&2
