#!/usr/bin/env bash
# Installs the system packages virtsim needs, if they are missing, on Debian,
# and libunicorn 2.1 into the project-local prefix .deps/unicorn.
#   binutils         GNU as/ld, to rebuild and check the guest images
#   qemu-system-x86  qemu-system-i386, the external oracle in the tests
#   gcc              cgo, and the guest SDK (virtsim new-guest: gcc -m32 -ffreestanding
#                    needs no gcc-multilib: the guests link no libc or libgcc)
#   tmux             the terminal UI's end-to-end test
#   qemu-utils       qemu-nbd and qemu-img: the block layer behind --disk and --shared-disk (raw, qcow2)
set -euo pipefail
pkgs=(binutils qemu-system-x86 gcc tmux qemu-utils)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v go >/dev/null 2>&1; then
	echo "deps: Go is not on PATH; install Go 1.22 or newer (https://go.dev/doc/install)" >&2
	exit 1
fi
# libunicorn 2.1 (Debian stable's libunicorn-dev) comes into .deps/unicorn,
# not into the system: see scripts/unicorn.sh.
"$(dirname "$0")/unicorn.sh"
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing packages ${missing[*]} and no apt-get here; install them by hand" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
		echo "deps: need root (or sudo) to install: ${missing[*]}" >&2
		exit 1
	fi
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
