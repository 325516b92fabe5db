package guest

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
)

// The streaming workload's disk (the OS-streaming model): the boot image
// (workloads/streaming.s) is only a loader; the program it runs lives on
// the disk and is read into memory at every boot. The layout is the ABI of
// guest/src/include/stream.inc:
//
//	sector 0      StreamHeader (magic, load address, entry, K, checksum)
//	sectors 1..K  the program (guest/src/stream/program.s)
//
// build.sh links the program with its header (the checksum still zero)
// into images/streaming-disk.bin; StreamImage fills in the checksum and
// pads the disk, so the image is a function of the committed sources.

// streamDisk is build.sh's output: the header sector, then the program.
//
//go:embed images/streaming-disk.bin
var streamDisk []byte

// Constants of stream.inc (TestStreamIncMatchesGo).
const (
	StreamMagic      = 0x4D525453 // "STRM"
	StreamHdrMagic   = 0x00
	StreamHdrLoad    = 0x04
	StreamHdrEntry   = 0x08
	StreamHdrSectors = 0x0C
	StreamHdrSum     = 0x10
	// StreamMaxSectors is the largest program the loader takes (1 MiB).
	StreamMaxSectors = 2048
	// StreamDiskSectors is the smallest disk StreamImage makes: room
	// for a plausible IDE geometry, as the disk workload's 128.
	StreamDiskSectors = 128
)

// StreamHeader is sector 0 of a streaming disk.
type StreamHeader struct {
	Magic, Load, Entry, Sectors, Sum uint32
}

// ParseStreamHeader reads the header at the start of disk.
func ParseStreamHeader(disk []byte) (StreamHeader, error) {
	if len(disk) < 512 {
		return StreamHeader{}, fmt.Errorf("guest: streaming disk: %d bytes, shorter than its header sector", len(disk))
	}
	le := binary.LittleEndian
	return StreamHeader{
		Magic: le.Uint32(disk[StreamHdrMagic:]), Load: le.Uint32(disk[StreamHdrLoad:]),
		Entry: le.Uint32(disk[StreamHdrEntry:]), Sectors: le.Uint32(disk[StreamHdrSectors:]),
		Sum: le.Uint32(disk[StreamHdrSum:]),
	}, nil
}

// Put writes h into the header sector at the start of disk.
func (h StreamHeader) Put(disk []byte) {
	le := binary.LittleEndian
	le.PutUint32(disk[StreamHdrMagic:], h.Magic)
	le.PutUint32(disk[StreamHdrLoad:], h.Load)
	le.PutUint32(disk[StreamHdrEntry:], h.Entry)
	le.PutUint32(disk[StreamHdrSectors:], h.Sectors)
	le.PutUint32(disk[StreamHdrSum:], h.Sum)
}

// StreamSum is the header's checksum of a program's sectors: FNV-1a over
// its little-endian dwords (each xored in, then multiplied), the loader's
// (and the disk workload's) arithmetic.
func StreamSum(program []byte) uint32 {
	h := uint32(0x811C9DC5)
	for i := 0; i+4 <= len(program); i += 4 {
		h ^= binary.LittleEndian.Uint32(program[i:])
		h *= 16777619
	}
	return h
}

// ErrStreamImage: the built streaming disk is not what stream.inc says.
var ErrStreamImage = errors.New("guest: malformed streaming disk")

// StreamImage returns the streaming workload's raw disk: the committed
// program with pad more sectors appended to it (DiskContents bytes; the
// header counts them, so the loader streams them too: the per-sector exit
// laws are measured this way) and the checksum filled in, padded to at
// least StreamDiskSectors sectors.
func StreamImage(pad int) ([]byte, error) {
	h, err := ParseStreamHeader(streamDisk)
	if err != nil {
		return nil, err
	}
	k := int(h.Sectors)
	if h.Magic != StreamMagic || k < 1 || len(streamDisk) != 512*(1+k) {
		return nil, fmt.Errorf("%w: images/streaming-disk.bin has magic %#x, %d sectors in its header, %d bytes (run guest/src/build.sh)",
			ErrStreamImage, h.Magic, k, len(streamDisk))
	}
	if pad < 0 || k+pad > StreamMaxSectors {
		return nil, fmt.Errorf("guest: streaming disk: %d padding sectors: the program may have at most %d in all (it has %d)", pad, StreamMaxSectors, k)
	}
	k += pad
	img := make([]byte, 512*max(1+k, StreamDiskSectors))
	n := copy(img, streamDisk)
	copy(img[n:512*(1+k)], DiskContents(pad))
	h.Sectors = uint32(k)
	h.Sum = StreamSum(img[512 : 512*(1+k)])
	h.Put(img)
	return img, nil
}
