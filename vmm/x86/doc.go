// Package x86 holds the architectural facts a VMM reasons with, as data:
// the exception vectors (which push an error code, which are faults and
// which are traps, which are "contributory" for the double-fault rule),
// the layout of segment and gate descriptors, and the EFLAGS and CR0 bits.
//
// Nothing here runs a guest. The machine model (package vmm) uses these
// tables to deliver exceptions the way a real CPU would; the
// trap-and-emulate VMM (package trap) uses the same tables to decide what
// a fault means. Keeping them as data, with table tests, means a student
// can read the rules of x86 protected mode in one place.
package x86
