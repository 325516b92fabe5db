// Package blkring is the backend of a paravirtual disk, Xen style: a split
// driver whose frontend (guest/src/include/blkfront.inc) and backend (this
// package, in the VMM) share a ring of requests and responses in one page
// of guest memory.
//
// # Why a ring
//
// An emulated disk (package ata) costs an exit for every register access:
// hundreds per sector. A paravirtual guest knows it is virtualized and
// says what it wants in memory instead: it fills request slots (read or
// write so many sectors at this sector into that buffer), advances the
// request producer index, and makes one notification for the whole batch —
// an event-channel hypercall in the PV build, a port write (a doorbell, as
// virtio's) in the native one and under KVM. The backend serves every
// request between its private consumer index and the producer index,
// writes each slot's status, advances the response producer index and
// raises a completion event. Exits per batch: one.
//
// # Trust
//
// The ring lives in guest memory: the guest can write anything there at
// any time. The backend reads each index and slot once, and checks
// everything before acting: the producer index may be at most Slots ahead
// of the consumer (otherwise the ring is broken: Error is set and nothing
// is served), the operation and size must be valid, the sectors on the
// disk, the buffer inside guest RAM and clear of the pages the VMM owns
// (Forbid). A bad request gets BLKIF_RSP_ERROR; nothing a guest writes can
// crash the VMM or make it touch memory that is not the guest's.
//
// # Simplifications (say so)
//
// The grant is the whole ring page, given once at connect (Xen grants page
// by page through a grant table, and requests carry grant references, not
// addresses). Requests carry one guest-physical buffer of up to 8 sectors.
// The backend is synchronous: it serves a batch inside the notification,
// so the completion event is pending by the time the guest runs again
// (Xen's blkback runs in another domain, concurrently, and its event
// arrives as an upcall).
package blkring
