package vmstate

import (
	"reflect"
	"unsafe"
)

// access makes an addressable value readable and settable even when it is
// an unexported field: device registers are unexported in their packages,
// and saving a VM must read and restore them all.
func access(v reflect.Value) reflect.Value {
	if v.CanSet() || !v.CanAddr() {
		return v
	}
	// Safe: v is addressable (a field of a struct reached through a
	// pointer), so UnsafeAddr is the address of live memory of exactly
	// v.Type(); NewAt only drops reflect's read-only flag for it.
	return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
}
