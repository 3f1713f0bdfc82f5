package testproc

import (
	"bytes"
	"sync"
)

// Output collects a child process's output: exec's copying goroutine
// writes it while the test may read it (to report a failure). The zero
// value is ready to use.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String returns what was written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
