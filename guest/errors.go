package guest

import "errors"

// Validation errors of the loaders. Every error a loader returns wraps one of
// these (test with errors.Is) inside a message that gives the details.
var (
	// ErrNotELF: the data does not start with the ELF magic (and, for Load,
	// carries no multiboot header with load addresses either).
	ErrNotELF = errors.New("not an ELF file")
	// ErrNotELF32: an ELF file, but not ELFCLASS32.
	ErrNotELF32 = errors.New("not a 32-bit (ELFCLASS32) ELF file")
	// ErrNotI386: an ELF32 file for another machine or byte order.
	ErrNotI386 = errors.New("not an i386 (EM_386, little-endian) ELF file")
	// ErrNotExecutable: an ELF32 file that is not ET_EXEC.
	ErrNotExecutable = errors.New("not an executable (ET_EXEC) ELF file")
	// ErrMalformedELF: the ELF headers cannot be parsed or are inconsistent.
	ErrMalformedELF = errors.New("malformed ELF file")
	// ErrNoMultibootHeader: no multiboot v1 header in the first 8 KiB.
	ErrNoMultibootHeader = errors.New("no multiboot header in the first 8 KiB")
	// ErrBadMultibootChecksum: a header magic was found but magic + flags +
	// checksum is not 0.
	ErrBadMultibootChecksum = errors.New("multiboot header checksum is wrong")
	// ErrMultibootHeaderNotLoaded: the header lies outside every loaded
	// segment (QEMU and GRUB require it inside one).
	ErrMultibootHeaderNotLoaded = errors.New("multiboot header is not inside a loaded segment")
	// ErrUnsupportedMultibootFlags: the header requires a feature (flags
	// bits 3..15) this loader does not provide.
	ErrUnsupportedMultibootFlags = errors.New("multiboot header requires unsupported features")
	// ErrBadMultibootAddresses: the a.out-kludge address fields (flags bit
	// 16) are inconsistent with each other or with the file.
	ErrBadMultibootAddresses = errors.New("multiboot header address fields are inconsistent")
	// ErrImageTooLarge: the file is larger than guest RAM.
	ErrImageTooLarge = errors.New("image is larger than guest RAM")
	// ErrSegmentOutsideRAM: a segment ends beyond guest RAM.
	ErrSegmentOutsideRAM = errors.New("segment lies outside guest RAM")
	// ErrSegmentTooLow: a segment starts below MinLoadAddr (4 KiB).
	ErrSegmentTooLow = errors.New("segment starts below 4 KiB")
	// ErrSegmentOverlapsInfo: a segment overlaps the region reserved for
	// the multiboot info block [InfoAddr, InfoAddr+InfoSize).
	ErrSegmentOverlapsInfo = errors.New("segment overlaps the multiboot info region")
	// ErrSegmentsOverlap: two segments overlap each other.
	ErrSegmentsOverlap = errors.New("segments overlap")
	// ErrEntryOutsideSegments: the entry point is not inside a segment's
	// loaded bytes.
	ErrEntryOutsideSegments = errors.New("entry point is outside the loaded segments")
	// ErrEmptyImage: nothing to load (an empty flat binary, or an ELF file
	// without loadable bytes).
	ErrEmptyImage = errors.New("empty image")
	// ErrUnknownWorkload: Lookup was given a name not in the catalogue.
	ErrUnknownWorkload = errors.New("unknown workload")
)
