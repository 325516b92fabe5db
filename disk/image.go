package disk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Image files in QEMU's formats, opened through QEMU's own block layer:
// qemu-nbd serves the image on a Unix socket in a private directory and
// the NBD client (nbd.go) talks to it. qemu-img probes formats and makes
// overlays.

// Errors for the command line's exit statuses.
var (
	// ErrUnavailable: qemu-nbd or qemu-img is missing.
	ErrUnavailable = errors.New("disk: qemu-nbd/qemu-img not found on PATH (Debian package qemu-utils; scripts/deps.sh installs it)")
	// ErrBadImage: the file is not an image QEMU can open.
	ErrBadImage = errors.New("disk: not a disk image")
)

// Available reports whether the block layer's tools are installed.
func Available() error {
	for _, t := range []string{"qemu-nbd", "qemu-img"} {
		if _, err := exec.LookPath(t); err != nil {
			return ErrUnavailable
		}
	}
	return nil
}

// Probe names the format of the image at path ("raw", "qcow2", ...) as
// qemu-img sees it.
func Probe(path string) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("disk: %w", err)
	}
	if err := Available(); err != nil {
		return "", err
	}
	out, err := exec.Command("qemu-img", "info", "-U", "--output=json", path).Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s: qemu-img info: %v %s", ErrBadImage, path, err, stderrOf(err))
	}
	var info struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(out, &info); err != nil || info.Format == "" {
		return "", fmt.Errorf("%w: %s: qemu-img info says no format", ErrBadImage, path)
	}
	return info.Format, nil
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(bytes.TrimSpace(ee.Stderr))
	}
	return ""
}

// Image is an image file served by qemu-nbd to this process.
type Image struct {
	*NBD
	// Path and Format are the image being written: the file itself for a
	// private disk, the per-VM overlay for a shared one.
	Path, Format string
	// Base is the shared base (a shared disk), else "".
	Base string
	dir  string // private directory: the socket, a shared disk's overlay
	srv  *exec.Cmd
	done chan error
}

// OpenPrivate opens the image at path for reading and writing: the VM's
// writes go to the file and persist.
func OpenPrivate(path string) (*Image, error) {
	fmtName, err := Probe(path)
	if err != nil {
		return nil, err
	}
	return serve(path, fmtName, false)
}

// OpenReadOnly opens the image at path read-only (a snapshot, a base).
func OpenReadOnly(path string) (*Image, error) {
	fmtName, err := Probe(path)
	if err != nil {
		return nil, err
	}
	return serve(path, fmtName, true)
}

// OpenShared opens base as a shared disk: base is never written; the VM
// writes into a fresh qcow2 overlay whose backing file is base, deleted by
// Close. Any number of VMs may share one base at once.
func OpenShared(base string) (*Image, error) {
	baseFmt, err := Probe(base)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(base)
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	dir, err := os.MkdirTemp("", "virtsim-disk-")
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	overlay := filepath.Join(dir, "overlay.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", abs, "-F", baseFmt, overlay).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("disk: overlay on %s: %v: %s", base, err, bytes.TrimSpace(out))
	}
	im, err := serveIn(dir, overlay, "qcow2", false)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	im.Base = abs
	return im, nil
}

func serve(path, format string, readOnly bool) (*Image, error) {
	dir, err := os.MkdirTemp("", "virtsim-disk-")
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	im, err := serveIn(dir, path, format, readOnly)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return im, nil
}

// serveIn starts qemu-nbd on path with its socket in dir and connects.
// qemu-nbd serves one client and exits when it disconnects; it dies with
// this process (SIGTERM on parent death), so a killed virtsim leaves no
// server behind.
func serveIn(dir, path, format string, readOnly bool) (*Image, error) {
	sock := filepath.Join(dir, "nbd.sock")
	args := []string{"--socket=" + sock, "--format=" + format, "--cache=writeback", "--shared=1"}
	if readOnly {
		args = append(args, "--read-only")
	}
	args = append(args, path)
	cmd := exec.Command("qemu-nbd", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("disk: start qemu-nbd: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The socket file appears before qemu-nbd listens on it: dial until
	// it answers, qemu-nbd exits, or 10 s pass.
	deadline := time.Now().Add(10 * time.Second)
	var n *NBD
	for {
		var err error
		n, err = DialNBD(sock, "")
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
			cmd.Process.Kill()
			<-done
			return nil, fmt.Errorf("disk: %s: %w", path, err)
		}
		select {
		case werr := <-done:
			return nil, fmt.Errorf("%w: %s: qemu-nbd exited (%v): %s", ErrBadImage, path, werr, bytes.TrimSpace(stderr.Bytes()))
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return nil, fmt.Errorf("disk: qemu-nbd did not answer on its socket within 10 s")
		}
	}
	return &Image{NBD: n, Path: path, Format: format, dir: dir, srv: cmd, done: done}, nil
}

// Snapshot writes a consistent copy of the disk as it is now to dst (a
// qcow2 image whose backing chain is flattened), while the VM keeps the
// disk: it flushes, then has qemu-img copy the image the server holds
// (sharing its lock: -U). The VMM serves the disk synchronously, so no
// write is in flight during the copy.
func (im *Image) Snapshot(dst string) error {
	if err := im.Flush(); err != nil {
		return fmt.Errorf("disk: snapshot: flush: %w", err)
	}
	out, err := exec.Command("qemu-img", "convert", "-U", "-f", im.Format, "-O", "qcow2", im.Path, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("disk: snapshot %s: %v: %s", im.Path, err, bytes.TrimSpace(out))
	}
	return nil
}

// Close disconnects, waits for qemu-nbd to exit and removes the private
// directory — with a shared disk's overlay: what the VM wrote is gone.
// Writes the guest did not flush may not be durable.
func (im *Image) Close() error {
	err := im.NBD.Close()
	select {
	case <-im.done:
	case <-time.After(10 * time.Second):
		im.srv.Process.Kill()
		<-im.done
	}
	if rerr := os.RemoveAll(im.dir); err == nil {
		err = rerr
	}
	return err
}
