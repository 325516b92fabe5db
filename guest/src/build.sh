#!/bin/sh
# build.sh — assemble and link every workload twice: OUTDIR/NAME.elf (the
# native build) and OUTDIR/NAME.pv.elf (the paravirtual build).
#
#   guest/src/build.sh [OUTDIR]      (OUTDIR defaults to guest/images)
#
# Each image = lib/*.s (the runtime) + workloads/NAME.s, assembled with
# `as --32` (include path: include/) and linked with `ld -m elf_i386 -T
# link.ld`. The PV build assembles the same sources with `--defsym PV=1`,
# which makes include/pvops.inc take every PV_* macro from pvops-pv.inc
# (hypercalls and shared-info accesses instead of privileged instructions).
# Compare the two builds of a workload with
#   objdump -d guest/images/NAME.elf    > native.txt
#   objdump -d guest/images/NAME.pv.elf > pv.txt
#   diff native.txt pv.txt The output is byte-reproducible: sources are named by paths
# relative to this directory, no debug info, no build id, fixed file order.
# Only global symbols are kept (ld -x): the ABI constants and local labels
# would drown the symbol table; mark code worth naming with FUNC or LABEL.
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

# build VARIANT SUFFIX EXTRA_ASFLAGS: every workload into $out/NAME$SUFFIX.
build() {
	variant=$1 suffix=$2 extra=$3
	libobjs=""
	for src in $(LC_ALL=C ls lib/*.s); do
		obj="$tmp/${variant}_lib_$(basename "$src" .s).o"
		$AS $ASFLAGS $extra -o "$obj" "$src"
		libobjs="$libobjs $obj"
	done
	for src in $(LC_ALL=C ls workloads/*.s); do
		name=$(basename "$src" .s)
		obj="$tmp/${variant}_wl_$name.o"
		$AS $ASFLAGS $extra -o "$obj" "$src"
		# entry.o first: the multiboot header and _start open the image
		$LD $LDFLAGS -o "$out/$name$suffix" "$tmp/${variant}_lib_entry.o" \
			$(echo $libobjs | tr ' ' '\n' | grep -v "/${variant}_lib_entry.o\$") "$obj"
		echo "built $out/$name$suffix"
	done
}

build native .elf ""
build pv .pv.elf "--defsym PV=1"

# The streaming workload's disk (stream/program.s, linked by
# stream/program.ld into a flat binary): the header sector, then the
# program's sectors, as OUTDIR/streaming-disk.bin. guest.StreamImage writes
# the header's checksum into a copy to make the raw disk image (virtsim
# disk-image --guest streaming FILE).
$AS $ASFLAGS -o "$tmp/stream_program.o" stream/program.s
$LD -m elf_i386 -T stream/program.ld --build-id=none -z noexecstack -nostdlib \
	-o "$out/streaming-disk.bin" "$tmp/stream_program.o"
echo "built $out/streaming-disk.bin"

# The platform guests (platform/*.s): native builds only, into
# OUTDIR/platform/NAME.elf. They drive the APICs, the RTC and the UART's
# receive path directly (no pv_ops layer) and are not catalogue workloads:
# the tests in guest/platform run them against QEMU.
mkdir -p "$out/platform"
libobjs=""
for src in $(LC_ALL=C ls lib/*.s); do
	libobjs="$libobjs $tmp/native_lib_$(basename "$src" .s).o"
done
for src in $(LC_ALL=C ls platform/*.s); do
	name=$(basename "$src" .s)
	obj="$tmp/platform_$name.o"
	$AS $ASFLAGS -o "$obj" "$src"
	$LD $LDFLAGS -o "$out/platform/$name.elf" "$tmp/native_lib_entry.o" \
		$(echo $libobjs | tr ' ' '\n' | grep -v "/native_lib_entry.o\$") "$obj"
	echo "built $out/platform/$name.elf"
done
