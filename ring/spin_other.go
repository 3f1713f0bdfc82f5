//go:build !amd64

package ring

// spinHint busy-waits for about n short steps. Only amd64 has an assembly
// version, with the PAUSE instruction.
func spinHint(n uint32) {
	for i := uint32(0); i < 8*n; i++ {
	}
}
