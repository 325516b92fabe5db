package disk

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// An NBD client (the fixed-newstyle handshake with NBD_OPT_GO, simple
// replies only): enough to read, write and flush an export of qemu-nbd.
// The protocol is https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md.

const (
	nbdMagic          = 0x4e42444d41474943 // "NBDMAGIC"
	nbdOptMagic       = 0x49484156454F5054 // "IHAVEOPT"
	nbdRepMagic       = 0x3e889045565a9
	nbdReqMagic       = 0x25609513
	nbdSimpleRepMagic = 0x67446698

	nbdFlagFixedNewstyle = 1 << 0
	nbdFlagNoZeroes      = 1 << 1
	nbdOptGo             = 7
	nbdRepAck            = 1
	nbdRepInfo           = 3
	nbdInfoExport        = 0
	nbdTransReadOnly     = 1 << 1

	nbdCmdRead  = 0
	nbdCmdWrite = 1
	nbdCmdDisc  = 2
	nbdCmdFlush = 3

	nbdMaxTransfer = 32 << 20
)

// ErrNBD is a protocol failure or an error the server reported.
var ErrNBD = errors.New("nbd")

// NBD is a connection to one NBD export.
type NBD struct {
	mu       sync.Mutex
	conn     net.Conn
	r        *bufio.Reader
	size     uint64
	readOnly bool
	handle   uint64
}

// DialNBD connects to the NBD server on a Unix socket and opens export
// (qemu-nbd's default export is "").
func DialNBD(socket, export string) (*NBD, error) {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("nbd: connect %s: %w", socket, err)
	}
	n := &NBD{conn: c, r: bufio.NewReader(c)}
	if err := n.handshake(export); err != nil {
		c.Close()
		return nil, err
	}
	return n, nil
}

func (n *NBD) handshake(export string) error {
	var hdr [18]byte
	if _, err := io.ReadFull(n.r, hdr[:]); err != nil {
		return fmt.Errorf("%w: read greeting: %v", ErrNBD, err)
	}
	be := binary.BigEndian
	if be.Uint64(hdr[0:]) != nbdMagic || be.Uint64(hdr[8:]) != nbdOptMagic {
		return fmt.Errorf("%w: not a newstyle NBD server", ErrNBD)
	}
	sflags := be.Uint16(hdr[16:])
	if sflags&nbdFlagFixedNewstyle == 0 {
		return fmt.Errorf("%w: server lacks fixed newstyle negotiation", ErrNBD)
	}
	cflags := uint32(nbdFlagFixedNewstyle)
	if sflags&nbdFlagNoZeroes != 0 {
		cflags |= nbdFlagNoZeroes
	}
	opt := make([]byte, 4+8+4+4+4+len(export)+2)
	be.PutUint32(opt[0:], cflags)
	be.PutUint64(opt[4:], nbdOptMagic)
	be.PutUint32(opt[12:], nbdOptGo)
	be.PutUint32(opt[16:], uint32(4+len(export)+2))
	be.PutUint32(opt[20:], uint32(len(export)))
	copy(opt[24:], export)
	// no information requests: the server sends NBD_INFO_EXPORT anyway
	if _, err := n.conn.Write(opt); err != nil {
		return fmt.Errorf("%w: send NBD_OPT_GO: %v", ErrNBD, err)
	}
	gotSize := false
	for {
		var rep [20]byte
		if _, err := io.ReadFull(n.r, rep[:]); err != nil {
			return fmt.Errorf("%w: read option reply: %v", ErrNBD, err)
		}
		if be.Uint64(rep[0:]) != nbdRepMagic {
			return fmt.Errorf("%w: bad option reply magic", ErrNBD)
		}
		typ, length := be.Uint32(rep[12:]), be.Uint32(rep[16:])
		if length > 1<<16 {
			return fmt.Errorf("%w: option reply of %d bytes", ErrNBD, length)
		}
		data := make([]byte, length)
		if _, err := io.ReadFull(n.r, data); err != nil {
			return fmt.Errorf("%w: read option reply: %v", ErrNBD, err)
		}
		switch {
		case typ == nbdRepAck:
			if !gotSize {
				return fmt.Errorf("%w: server did not say the export's size", ErrNBD)
			}
			return nil
		case typ == nbdRepInfo && len(data) >= 12 && be.Uint16(data) == nbdInfoExport:
			n.size = be.Uint64(data[2:])
			n.readOnly = be.Uint16(data[10:])&nbdTransReadOnly != 0
			gotSize = true
		case typ&(1<<31) != 0:
			return fmt.Errorf("%w: server refused export %q (error %#x: %s)", ErrNBD, export, typ, data)
		}
	}
}

// Sectors is the export's size in sectors.
func (n *NBD) Sectors() uint64 { return n.size / SectorSize }

// ReadOnly reports whether the server exports read-only.
func (n *NBD) ReadOnly() bool { return n.readOnly }

func (n *NBD) ReadAt(p []byte, off int64) (int, error) {
	if err := CheckRange(n.Sectors(), off, len(p)); err != nil {
		return 0, err
	}
	for done := 0; done < len(p); {
		k := min(len(p)-done, nbdMaxTransfer)
		if err := n.do(nbdCmdRead, uint64(off)+uint64(done), p[done:done+k], nil); err != nil {
			return done, err
		}
		done += k
	}
	return len(p), nil
}

func (n *NBD) WriteAt(p []byte, off int64) (int, error) {
	if err := CheckRange(n.Sectors(), off, len(p)); err != nil {
		return 0, err
	}
	for done := 0; done < len(p); {
		k := min(len(p)-done, nbdMaxTransfer)
		if err := n.do(nbdCmdWrite, uint64(off)+uint64(done), nil, p[done:done+k]); err != nil {
			return done, err
		}
		done += k
	}
	return len(p), nil
}

// Flush asks the server to make completed writes durable (qemu-nbd
// flushes its image, which fsyncs the file).
func (n *NBD) Flush() error { return n.do(nbdCmdFlush, 0, nil, nil) }

// Close disconnects (NBD_CMD_DISC; there is no reply).
func (n *NBD) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var req [28]byte
	n.header(req[:], nbdCmdDisc, 0, 0)
	n.conn.Write(req[:])
	return n.conn.Close()
}

func (n *NBD) header(req []byte, cmd uint16, off uint64, length uint32) {
	be := binary.BigEndian
	n.handle++
	be.PutUint32(req[0:], nbdReqMagic)
	be.PutUint16(req[4:], 0)
	be.PutUint16(req[6:], cmd)
	be.PutUint64(req[8:], n.handle)
	be.PutUint64(req[16:], off)
	be.PutUint32(req[24:], length)
}

// do sends one request and waits for its simple reply: into rd for a read,
// from wr for a write.
func (n *NBD) do(cmd uint16, off uint64, rd, wr []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	length := uint32(len(rd) + len(wr))
	msg := make([]byte, 28, 28+len(wr))
	n.header(msg, cmd, off, length)
	msg = append(msg, wr...)
	if _, err := n.conn.Write(msg); err != nil {
		return fmt.Errorf("%w: send: %v", ErrNBD, err)
	}
	var rep [16]byte
	if _, err := io.ReadFull(n.r, rep[:]); err != nil {
		return fmt.Errorf("%w: read reply: %v", ErrNBD, err)
	}
	be := binary.BigEndian
	if be.Uint32(rep[0:]) != nbdSimpleRepMagic || be.Uint64(rep[8:]) != n.handle {
		return fmt.Errorf("%w: unexpected reply", ErrNBD)
	}
	if e := be.Uint32(rep[4:]); e != 0 {
		return fmt.Errorf("%w: server error %d on command %d at %d", ErrNBD, e, cmd, off)
	}
	if rd != nil {
		if _, err := io.ReadFull(n.r, rd); err != nil {
			return fmt.Errorf("%w: read data: %v", ErrNBD, err)
		}
	}
	return nil
}
