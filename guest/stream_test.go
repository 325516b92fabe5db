package guest

import "testing"

// TestStreamIncMatchesGo: stream.inc (the loader's and the program's ABI)
// and stream.go define the same layout.
func TestStreamIncMatchesGo(t *testing.T) {
	vals := incSets(t, "src/include/stream.inc")
	for name, want := range map[string]uint64{
		"STREAM_MAGIC": StreamMagic, "STREAM_HDR_MAGIC": StreamHdrMagic, "STREAM_HDR_LOAD": StreamHdrLoad,
		"STREAM_HDR_ENTRY": StreamHdrEntry, "STREAM_HDR_SECTORS": StreamHdrSectors, "STREAM_HDR_SUM": StreamHdrSum,
		"STREAM_MAX_SECTORS": StreamMaxSectors,
	} {
		if got, ok := vals[name]; !ok || got != want {
			t.Errorf("stream.inc %s = %#x (found %v), stream.go %#x", name, got, ok, want)
		}
	}
}

// The streaming disk: the header describes the program that follows it,
// its checksum is the program's, padding is counted and summed, and the
// disk is at least StreamDiskSectors long.
func TestStreamImage(t *testing.T) {
	for _, pad := range []int{0, 1, 300} {
		img, err := StreamImage(pad)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseStreamHeader(img)
		if err != nil {
			t.Fatal(err)
		}
		k := int(h.Sectors)
		if h.Magic != StreamMagic || h.Load%4096 != 0 || h.Entry < h.Load || h.Entry >= h.Load+uint32(512*k) {
			t.Errorf("pad %d: header %+v", pad, h)
		}
		if len(img)%512 != 0 || len(img)/512 < max(1+k, StreamDiskSectors) {
			t.Errorf("pad %d: %d bytes for %d program sectors", pad, len(img), k)
		}
		if got := StreamSum(img[512 : 512*(1+k)]); got != h.Sum {
			t.Errorf("pad %d: header sum %#x, program's %#x", pad, h.Sum, got)
		}
		if pad == 0 {
			if k != len(streamDisk)/512-1 {
				t.Errorf("%d sectors in the header, %d built", k, len(streamDisk)/512-1)
			}
		}
	}
	base, _ := StreamImage(0)
	padded, _ := StreamImage(5)
	hb, _ := ParseStreamHeader(base)
	hp, _ := ParseStreamHeader(padded)
	if hp.Sectors != hb.Sectors+5 {
		t.Errorf("5 padding sectors: %d -> %d", hb.Sectors, hp.Sectors)
	}
	if _, err := StreamImage(StreamMaxSectors); err == nil {
		t.Error("a program beyond StreamMaxSectors was made")
	}
	if _, err := StreamImage(-1); err == nil {
		t.Error("negative padding accepted")
	}
}
