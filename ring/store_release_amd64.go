//go:build amd64 && !race

package ring

import (
	"sync/atomic"
	"unsafe"
)

// storeRelease stores v with release semantics: every write the caller made
// before it (the entries of the published slots) is visible to a goroutine
// that loads v. That is all publishing needs. On amd64 (total store order)
// a plain MOV is a release store, while sync/atomic's sequentially
// consistent Store compiles to XCHG, which cannot retire until this core
// owns the cache line: with a consumer polling that line from another core,
// it costs a cross-core round trip per publish (about 30 ns instead of 3 on
// the development machine; see docs/performance-ring.md).
//
// Release is not enough for the Blocking strategy, whose wake-up protocol
// needs the store ordered before a later load (see sequence.store), so
// Blocking rings always use atomic stores.
//
// The compiler must not move the caller's entry writes past the store: it
// cannot, because storeRelease is never inlined and the compiler treats a
// call it cannot see into as reading all memory. Race builds use
// sync/atomic instead (store_release_other.go): the race detector only sees
// synchronization through sync/atomic.
//
//go:noinline
func storeRelease(p *atomic.Int64, v int64) {
	*(*int64)(unsafe.Pointer(p)) = v // atomic.Int64's only field of size is the int64
}

// storeRelease32 is storeRelease for the availability buffer.
//
//go:noinline
func storeRelease32(p *atomic.Int32, v int32) {
	*(*int32)(unsafe.Pointer(p)) = v
}
