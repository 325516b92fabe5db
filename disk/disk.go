package disk

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// SectorSize is the size of one sector: the unit of every transfer.
const SectorSize = 512

// Backend is a virtual disk: Sectors() sectors, read and written at byte
// offsets that are multiples of SectorSize, in whole sectors.
type Backend interface {
	// Sectors is the size of the disk in sectors.
	Sectors() uint64
	// ReadAt reads len(p) bytes at byte offset off.
	ReadAt(p []byte, off int64) (int, error)
	// WriteAt writes len(p) bytes at byte offset off.
	WriteAt(p []byte, off int64) (int, error)
	// Flush makes every completed write durable.
	Flush() error
	// Close releases the disk (it does not flush).
	Close() error
}

// ErrRange is an access beyond the end of the disk or not in whole
// sectors.
var ErrRange = errors.New("disk: access out of range")

// CheckRange validates an access of n bytes at off on a disk of sectors.
func CheckRange(sectors uint64, off int64, n int) error {
	if off < 0 || off%SectorSize != 0 || n%SectorSize != 0 || uint64(off)+uint64(n) > sectors*SectorSize {
		return fmt.Errorf("%w: %d bytes at byte %d of a %d-sector disk", ErrRange, n, off, sectors)
	}
	return nil
}

// Mem is a disk held in memory.
type Mem struct {
	mu   sync.Mutex
	data []byte
	// Flushes counts Flush calls.
	Flushes uint64
}

// NewMem returns an in-memory disk holding a copy of data, rounded up to
// whole sectors.
func NewMem(data []byte) *Mem {
	n := (len(data) + SectorSize - 1) / SectorSize * SectorSize
	b := make([]byte, n)
	copy(b, data)
	return &Mem{data: b}
}

func (m *Mem) Sectors() uint64 { return uint64(len(m.data) / SectorSize) }

func (m *Mem) ReadAt(p []byte, off int64) (int, error) {
	if err := CheckRange(m.Sectors(), off, len(p)); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return copy(p, m.data[off:]), nil
}

func (m *Mem) WriteAt(p []byte, off int64) (int, error) {
	if err := CheckRange(m.Sectors(), off, len(p)); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return copy(m.data[off:], p), nil
}

func (m *Mem) Flush() error { m.mu.Lock(); m.Flushes++; m.mu.Unlock(); return nil }
func (m *Mem) Close() error { return nil }

// Bytes returns a copy of the disk's contents.
func (m *Mem) Bytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.data...)
}

// WriteCache is a drive's volatile write cache in front of a backend:
// writes are acknowledged into memory and reach the backend only on Flush
// (then the backend is flushed too). Reads see the cached data.
type WriteCache struct {
	B     Backend
	dirty map[uint64][]byte // sector -> contents
}

// NewWriteCache puts a write cache in front of b.
func NewWriteCache(b Backend) *WriteCache {
	return &WriteCache{B: b, dirty: map[uint64][]byte{}}
}

func (c *WriteCache) Sectors() uint64 { return c.B.Sectors() }

// Dirty is the number of sectors written since the last flush.
func (c *WriteCache) Dirty() int { return len(c.dirty) }

func (c *WriteCache) ReadAt(p []byte, off int64) (int, error) {
	if err := CheckRange(c.Sectors(), off, len(p)); err != nil {
		return 0, err
	}
	if _, err := c.B.ReadAt(p, off); err != nil {
		return 0, err
	}
	first := uint64(off) / SectorSize
	for i := 0; i < len(p)/SectorSize; i++ {
		if d, ok := c.dirty[first+uint64(i)]; ok {
			copy(p[i*SectorSize:], d)
		}
	}
	return len(p), nil
}

func (c *WriteCache) WriteAt(p []byte, off int64) (int, error) {
	if err := CheckRange(c.Sectors(), off, len(p)); err != nil {
		return 0, err
	}
	first := uint64(off) / SectorSize
	for i := 0; i < len(p)/SectorSize; i++ {
		c.dirty[first+uint64(i)] = append([]byte(nil), p[i*SectorSize:(i+1)*SectorSize]...)
	}
	return len(p), nil
}

// Flush writes the dirty sectors through, in order, and flushes the backend.
func (c *WriteCache) Flush() error {
	secs := make([]uint64, 0, len(c.dirty))
	for s := range c.dirty {
		secs = append(secs, s)
	}
	sort.Slice(secs, func(i, j int) bool { return secs[i] < secs[j] })
	for _, s := range secs {
		if _, err := c.B.WriteAt(c.dirty[s], int64(s)*SectorSize); err != nil {
			return fmt.Errorf("disk: write back sector %d: %w", s, err)
		}
		delete(c.dirty, s)
	}
	return c.B.Flush()
}

// Close drops what was not flushed, as a drive losing power does.
func (c *WriteCache) Close() error { return c.B.Close() }
