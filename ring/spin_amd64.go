package ring

// spinHint executes the PAUSE instruction n (> 0) times.
//
//go:noescape
func spinHint(n uint32)
