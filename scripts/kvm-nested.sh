#!/usr/bin/env bash
# kvm-nested.sh: a real /dev/kvm for virtsim's kvm strategy on a machine
# without one, by nesting: boot Debian's Linux kernel under QEMU's TCG (the
# pure software emulator, no host virtualization needed) with a CPU model
# that has AMD's SVM and nested paging, load kvm_amd in that guest, and run
# the given command there. The command sees a genuine /dev/kvm: KVM's SVM
# code runs VMRUN, takes #VMEXITs and walks NPT exactly as on AMD hardware,
# only every instruction of it (and of the nested guest) is emulated by
# TCG. Exit counts are real KVM exits; wall times are meaningless (TCG runs
# everything 10-100 times slower, and the two levels interfere).
#
# Usage:
#   scripts/kvm-nested.sh [-t SECONDS] 'COMMAND'
#     COMMAND runs under /bin/sh (busybox ash) inside the guest, as root,
#     in /repo: this repository, shared read-write with the host over 9p
#     (virtio). Its stdout/stderr reach the host's stdout through the
#     serial console; the script's exit status is COMMAND's (124 if the
#     whole run timed out, 125 if the guest never reported a status).
#   -t SECONDS   overall timeout (default 900; KVMNEST_TIMEOUT)
#
# The guest has no Go: build what you run on the host first, e.g.
#   go build -o bin/virtsim ./cmd/virtsim
#   go test -c -o .deps/kvmnest/bin/hwassist.test ./hwassist
#   scripts/kvm-nested.sh 'cd hwassist && ../.deps/kvmnest/bin/hwassist.test -test.v'
# (make test-kvm-nested does this for hwassist and the kvm workloads.)
# The shared libraries of every executable in bin/ and .deps/kvmnest/bin/
# are copied into the initramfs (ldd), so dynamically linked binaries run.
#
# What it fetches, into .deps/kvmnest/ (gitignored; once, ~72 MB, with
# apt-get download from the Debian archive this machine uses): Debian
# bookworm's kernel image (linux-image-amd64 names the version) and
# busybox-static. Nothing is installed on the host.
#
# Environment:
#   KVMNEST_CPU      QEMU -cpu model (default qemu64,+svm,+npt: AMD vendor,
#                    as kvm_amd requires; SVM with nested paging)
#   KVMNEST_KVMAMD   kvm_amd parameters (default "nested=0 npt=1")
#   KVMNEST_MEM      guest memory (default 2G)
#   KVMNEST_KEEP=1   keep the initramfs build directory
#   KVMNEST_REPO     the checkout to share as /repo (default: this script's)
set -euo pipefail
# The kernel cache lives beside this script; the shared repository is
# this one unless KVMNEST_REPO names another checkout (a worktree using
# this script from elsewhere).
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "${KVMNEST_REPO:-$here}" && pwd)"
cache="$here/.deps/kvmnest"
timeout_s="${KVMNEST_TIMEOUT:-900}"
cpu="${KVMNEST_CPU:-qemu64,+svm,+npt}"
kvmamd="${KVMNEST_KVMAMD:-nested=0 npt=1}"
mem="${KVMNEST_MEM:-2G}"

while getopts "t:" o; do
	case "$o" in
	t) timeout_s="$OPTARG" ;;
	*) echo "usage: $0 [-t SECONDS] 'COMMAND'" >&2; exit 64 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ]; then
	echo "usage: $0 [-t SECONDS] 'COMMAND'" >&2
	exit 64
fi
cmd="$1"

die() { echo "kvm-nested: $*" >&2; exit 69; }
for tool in qemu-system-x86_64 apt-get dpkg-deb gzip ldd timeout; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install qemu-system-x86)"
done

# 1. The kernel and busybox, once.
mkdir -p "$cache/deb" "$root/.deps/kvmnest/bin"
if [ ! -f "$cache/READY" ]; then
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[ -n "$kpkg" ] || die "apt-cache cannot name the kernel linux-image-amd64 depends on (apt-get update?)"
	echo "kvm-nested: fetching $kpkg and busybox-static into $cache" >&2
	rm -rf "$cache/deb"/* "$cache/root"
	(cd "$cache/deb" && timeout 600 apt-get download "$kpkg" busybox-static >&2) ||
		die "apt-get download $kpkg busybox-static failed"
	mkdir -p "$cache/root"
	for d in "$cache/deb"/*.deb; do dpkg-deb -x "$d" "$cache/root"; done
	echo "$kpkg" >"$cache/READY"
fi
kroot="$cache/root"
vmlinuz=$(ls "$kroot"/boot/vmlinuz-* | head -1)
kver=${vmlinuz##*/vmlinuz-}
moddir="$kroot/lib/modules/$kver/kernel"
[ -d "$moddir" ] || die "no modules for $kver under $kroot"

# 2. The initramfs: busybox, the modules in dependency order, the
# libraries, an init that runs the command.
work=$(mktemp -d "${TMPDIR:-/tmp}/kvmnest.XXXXXX")
cleanup() { [ "${KVMNEST_KEEP:-}" = 1 ] && echo "kvm-nested: kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
ir="$work/initramfs"
mkdir -p "$ir"/{bin,dev,proc,sys,tmp,repo,lib/modules,etc}
cp "$kroot/bin/busybox" "$ir/bin/busybox"

# depends= from a module's .modinfo section (the host may have no modinfo,
# and the unpacked package has no modules.dep).
modpath() { find "$moddir" -name "$1.ko" -o -name "${1//_/-}.ko" | head -1; }
moddeps() { tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -1 | tr ',' ' '; }
order=()
addmod() {
	local m="${1//-/_}" f d
	for d in "${order[@]}"; do [ "$d" = "$m" ] && return 0; done
	f=$(modpath "$m")
	[ -n "$f" ] || die "module $m not found in $moddir"
	for d in $(moddeps "$f"); do addmod "$d"; done
	for d in "${order[@]}"; do [ "$d" = "$m" ] && return 0; done
	cp "$f" "$ir/lib/modules/$m.ko"
	order+=("$m")
}
for m in virtio_pci 9pnet_virtio 9p kvm kvm_amd; do addmod "$m"; done

# Shared libraries of the executables the command may run.
for exe in "$root"/bin/* "$root"/.deps/kvmnest/bin/*; do
	[ -f "$exe" ] && [ -x "$exe" ] || continue
	ldd "$exe" 2>/dev/null | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}' | while read -r lib; do
		mkdir -p "$ir$(dirname "$lib")"
		cp -L "$lib" "$ir$lib"
	done
done
# The loader at the path the ELF names.
[ -e "$ir/lib64/ld-linux-x86-64.so.2" ] || { mkdir -p "$ir/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$ir/lib64/"; }

printf '%s\n' "$cmd" >"$ir/cmd.sh"
cat >"$ir/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin HOME=/tmp TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo 1 >/proc/sys/kernel/printk
for m in ${order[*]}; do
	args=
	[ \$m = kvm_amd ] && args="$kvmamd"
	insmod /lib/modules/\$m.ko \$args || echo "KVMNEST: insmod \$m \$args failed"
done
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none repo /repo; then
	echo "KVMNEST: mounting the repository over 9p failed"
fi
echo "KVMNEST: \$(uname -r), cpu: \$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "KVMNEST: svm flag: \$(grep -m1 -ow svm /proc/cpuinfo || echo none); npt: \$(grep -m1 -ow npt /proc/cpuinfo || echo none)"
echo "KVMNEST: modules: \$(ls /sys/module | grep -E '^kvm' | tr '\n' ' ')"
echo "KVMNEST: kvm_amd npt=\$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null) nested=\$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null)"
if [ -c /dev/kvm ]; then echo "KVMNEST: /dev/kvm present"; else echo "KVMNEST: /dev/kvm MISSING"; dmesg | grep -iE 'kvm|svm' | tail -5; fi
cd /repo
echo "KVMNEST: running: \$(cat /cmd.sh)"
echo "KVMNEST: ----"
sh /cmd.sh
rc=\$?
echo "KVMNEST: ----"
dmesg | grep -iE 'kvm|svm' | grep -viE 'loaded|Nested Paging|Virtual VMLOAD|Virtual GIF|LBR|Nested Virtualization|TSC scaling' | tail -5 | sed 's/^/KVMNEST dmesg: /'
echo "KVMNEST-RC=\$rc"
sync
poweroff -f
EOF
chmod +x "$ir/init"
# busybox's cpio writes the archive: the host need not have cpio.
(cd "$ir" && find . | "$kroot/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initramfs.gz"

# 3. Boot. The console is the serial port, on stdout; the status comes back
# as the line KVMNEST-RC=N.
log="$work/console.log"
set +e
timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 \
	-accel tcg -cpu "$cpu" -m "$mem" -smp 1 -nographic -no-reboot \
	-kernel "$vmlinuz" -initrd "$work/initramfs.gz" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off" \
	-virtfs "local,path=$root,mount_tag=repo,security_model=none" \
	-nic none -device virtio-rng-pci </dev/null 2>&1 | tee "$log"
qrc=${PIPESTATUS[0]}
set -e
if [ "$qrc" = 124 ]; then
	echo "kvm-nested: timed out after ${timeout_s}s" >&2
	exit 124
fi
rc=$(tr -d '\r' <"$log" | sed -n 's/^KVMNEST-RC=\([0-9]*\)$/\1/p' | tail -1)
if [ -z "$rc" ]; then
	echo "kvm-nested: the guest reported no status (qemu exit $qrc)" >&2
	exit 125
fi
exit "$rc"
