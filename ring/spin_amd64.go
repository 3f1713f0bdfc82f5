package ring

// spinHint executes the PAUSE instruction n times.
//
//go:noescape
func spinHint(n uint32)
