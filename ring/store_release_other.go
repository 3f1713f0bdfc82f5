//go:build !amd64 || race

package ring

import "sync/atomic"

// storeRelease stores v with (at least) release semantics: see
// store_release_amd64.go. Elsewhere, and under the race detector,
// sync/atomic's store is used; on arm64 it already is a release store.
func storeRelease(p *atomic.Int64, v int64) { p.Store(v) }

// storeRelease32 is storeRelease for the availability buffer.
func storeRelease32(p *atomic.Int32, v int32) { p.Store(v) }
