#!/bin/sh
# build.sh — assemble and link every workload into OUTDIR/NAME.elf.
#
#   guest/src/build.sh [OUTDIR]      (OUTDIR defaults to guest/images)
#
# Each image = lib/*.s (the runtime) + workloads/NAME.s, assembled with
# `as --32` (include path: include/) and linked with `ld -m elf_i386 -T
# link.ld`. The output is byte-reproducible: sources are named by paths
# relative to this directory, no debug info, no build id, fixed file order.
# Only global symbols are kept (ld -x): the ABI constants and local labels
# would drown the symbol table; mark code worth naming with FUNC or LABEL.
# The PV build (as --defsym PV=1 -> NAME.pv.elf) is added by the PV issue.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../images"}
mkdir -p "$out"
out=$(cd "$out" && pwd)

AS=${AS:-as}
LD=${LD:-ld}
ASFLAGS="--32 -I include"
LDFLAGS="-m elf_i386 -T link.ld --build-id=none -z noexecstack -z norelro -nostdlib -x"

cd "$here"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

libobjs=""
for src in $(LC_ALL=C ls lib/*.s); do
	obj="$tmp/lib_$(basename "$src" .s).o"
	$AS $ASFLAGS -o "$obj" "$src"
	libobjs="$libobjs $obj"
done

for src in $(LC_ALL=C ls workloads/*.s); do
	name=$(basename "$src" .s)
	obj="$tmp/wl_$name.o"
	$AS $ASFLAGS -o "$obj" "$src"
	# entry.o first: the multiboot header and _start open the image
	$LD $LDFLAGS -o "$out/$name.elf" "$tmp/lib_entry.o" $(echo $libobjs | tr ' ' '\n' | grep -v '/lib_entry.o$') "$obj"
	echo "built $out/$name.elf"
done
