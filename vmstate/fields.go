package vmstate

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
)

// Fields is one device's state: every value field of its model, by the
// field's name, as JSON (nested structs as nested Fields, byte arrays and
// slices as base64).
//
// A device model is a struct of registers and latches (values) wired to
// the rest of the machine (callbacks, pointers to other devices, locks).
// Capture records the values and leaves the wiring, which the machine
// constructor builds anew: so the same Capture serves every device, and a
// field added to a device is saved without anyone remembering to.
type Fields map[string]json.RawMessage

// wiring reports types that are connections, not state: functions,
// channels, pointers, interfaces and locks.
func wiring(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Func, reflect.Chan, reflect.Pointer, reflect.Interface, reflect.UnsafePointer:
		return true
	case reflect.Struct:
		return t.PkgPath() == "sync"
	case reflect.Array, reflect.Slice:
		return wiring(t.Elem())
	case reflect.Map:
		return wiring(t.Key()) || wiring(t.Elem())
	}
	return false
}

// Capture records the state of the device model *dev (a pointer to a
// struct).
func Capture(dev any) (Fields, error) {
	v := reflect.ValueOf(dev)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("vmstate: capture %T: not a pointer to a struct", dev)
	}
	return captureStruct(v.Elem())
}

// Apply sets the state of *dev from f; every value field of the model must
// be in f and every field of f in the model.
func Apply(dev any, f Fields) error {
	v := reflect.ValueOf(dev)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("vmstate: apply to %T: not a pointer to a struct", dev)
	}
	if err := applyStruct(v.Elem(), f); err != nil {
		return fmt.Errorf("vmstate: %T: %w", dev, err)
	}
	return nil
}

func captureStruct(v reflect.Value) (Fields, error) {
	f := Fields{}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if wiring(sf.Type) {
			continue
		}
		raw, err := captureValue(v.Field(i))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sf.Name, err)
		}
		f[sf.Name] = raw
	}
	return f, nil
}

func captureValue(v reflect.Value) (json.RawMessage, error) {
	v = access(v)
	switch v.Kind() {
	case reflect.Struct:
		f, err := captureStruct(v)
		if err != nil {
			return nil, err
		}
		return json.Marshal(f)
	case reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			return json.Marshal(b)
		}
		return captureList(v)
	case reflect.Slice:
		if v.IsNil() {
			return json.RawMessage("null"), nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return json.Marshal(v.Bytes())
		}
		return captureList(v)
	}
	return json.Marshal(v.Interface())
}

func captureList(v reflect.Value) (json.RawMessage, error) {
	out := make([]json.RawMessage, v.Len())
	for i := range out {
		raw, err := captureValue(v.Index(i))
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out[i] = raw
	}
	return json.Marshal(out)
}

func applyStruct(v reflect.Value, f Fields) error {
	t := v.Type()
	known := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if wiring(sf.Type) {
			continue
		}
		known[sf.Name] = true
		raw, ok := f[sf.Name]
		if !ok {
			return fmt.Errorf("field %s missing from the saved state", sf.Name)
		}
		if err := applyValue(v.Field(i), raw); err != nil {
			return fmt.Errorf("%s: %w", sf.Name, err)
		}
	}
	var extra []string
	for name := range f {
		if !known[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("saved state has fields this device model does not: %v", extra)
	}
	return nil
}

func applyValue(v reflect.Value, raw json.RawMessage) error {
	v = access(v)
	switch v.Kind() {
	case reflect.Struct:
		var f Fields
		if err := json.Unmarshal(raw, &f); err != nil {
			return err
		}
		return applyStruct(v, f)
	case reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			var b []byte
			if err := json.Unmarshal(raw, &b); err != nil {
				return err
			}
			if len(b) != v.Len() {
				return fmt.Errorf("%d bytes, want %d", len(b), v.Len())
			}
			reflect.Copy(v, reflect.ValueOf(b))
			return nil
		}
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return err
		}
		if len(list) != v.Len() {
			return fmt.Errorf("%d elements, want %d", len(list), v.Len())
		}
		return applyList(v, list)
	case reflect.Slice:
		if string(raw) == "null" {
			v.SetZero()
			return nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			var b []byte
			if err := json.Unmarshal(raw, &b); err != nil {
				return err
			}
			v.SetBytes(b)
			return nil
		}
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return err
		}
		v.Set(reflect.MakeSlice(v.Type(), len(list), len(list)))
		return applyList(v, list)
	}
	return json.Unmarshal(raw, v.Addr().Interface())
}

func applyList(v reflect.Value, list []json.RawMessage) error {
	for i, raw := range list {
		if err := applyValue(v.Index(i), raw); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return nil
}
