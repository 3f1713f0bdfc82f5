package netio

import (
	"bytes"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ringex/ringex/netio/internal/nettest"
	"github.com/ringex/ringex/netio/wire"
)

// outboxPair is an Outbox over one end of a non-blocking socketpair with
// small buffers; the test reads the other end. The test owns both ends, as
// gnet owns a connection's descriptor: the cleanup closes them after the
// outbox's release.
type outboxPair struct {
	t      *testing.T
	o      *Outbox
	fd     int
	peer   int
	closes chan struct{}
	cuts   chan int
}

func newOutboxPair(t *testing.T, max int, budget *ByteBudget) *outboxPair {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
	}
	p := &outboxPair{t: t, o: &Outbox{}, fd: fds[0], peer: fds[1], closes: make(chan struct{}, 4), cuts: make(chan int, 4)}
	p.o.Init(fds[0], max, budget, wire.LogoutSlowConsumer, &OutboxHooks{
		Close: func() { p.closes <- struct{}{} },
		Cut:   func(queued int, _ bool) { p.cuts <- queued },
	})
	t.Cleanup(func() {
		p.o.Release()
		unix.Close(p.fd)
		unix.Close(p.peer)
	})
	return p
}

func (p *outboxPair) state() OutState {
	st, _, _, _, _ := p.o.Stats()
	return st
}

// fill writes frames of n bytes until the socket is full and the outbox
// queues; it returns everything written, in order.
func (p *outboxPair) fill(n int) []byte {
	var all []byte
	for i := 0; ; i++ {
		f := bytes.Repeat([]byte{byte(i)}, n)
		if !p.o.write(f) {
			p.t.Fatalf("write %d refused", i)
		}
		all = append(all, f...)
		if _, q, _, _, _ := p.o.Stats(); q > 0 {
			return all
		}
		if i > 10000 {
			p.t.Fatal("the socket never filled")
		}
	}
}

// readAll reads the peer until want bytes arrived (or EOF / 5 s).
func (p *outboxPair) readAll(want int) []byte {
	var got []byte
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		n, err := unix.Read(p.peer, buf)
		switch {
		case err == unix.EAGAIN:
			time.Sleep(time.Millisecond)
		case err != nil:
			p.t.Fatal(err)
		case n == 0:
			return got
		default:
			got = append(got, buf[:n]...)
		}
	}
	return got
}

func (p *outboxPair) expectClose() {
	p.t.Helper()
	select {
	case <-p.closes:
	case <-time.After(5 * time.Second):
		p.t.Fatalf("no close requested; state %v", p.state())
	}
}

// open: an idle Outbox writes at once, from the caller, nothing queued and
// no flusher.
func TestOutboxOpenDirect(t *testing.T) {
	p := newOutboxPair(t, 1<<20, nil)
	if !p.o.write([]byte("hello")) {
		t.Fatal("write refused")
	}
	if st, q, idle, stalls, _ := p.o.Stats(); st != outOpen || q != 0 || !idle || stalls != 0 {
		t.Fatalf("state %v queued %d idle %v stalls %d", st, q, idle, stalls)
	}
	if got := p.readAll(5); string(got) != "hello" {
		t.Fatalf("read %q", got)
	}
}

// open, socket full: the flusher role passes to a goroutine that empties
// the queue once the peer reads, in order, and gives the role back.
func TestOutboxFlusherHandoff(t *testing.T) {
	p := newOutboxPair(t, 1<<20, nil)
	want := p.fill(1000)
	more := bytes.Repeat([]byte{0xee}, 3000)
	p.o.write(more) // behind the queue, not on the socket
	want = append(want, more...)
	got := p.readAll(len(want))
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d, equal prefix %v", len(got), len(want), bytes.HasPrefix(want, got))
	}
	if !nettest.WaitCond(5*time.Second, func() bool {
		_, q, idle, _, resumes := p.o.Stats()
		return q == 0 && idle && resumes == 1
	}) {
		t.Fatal("the flusher did not give the role back")
	}
	p.o.mu.Lock()
	kept := 0
	for _, b := range p.o.blocks {
		kept += cap(b)
	}
	p.o.mu.Unlock()
	if kept > keptQueue {
		t.Fatalf("an empty Outbox keeps a %d-byte queue", kept)
	}
}

// open -> ending -> draining: the last bytes queue behind the rest, later
// writes are dropped, the close is requested once they are out.
func TestOutboxEndingThenDraining(t *testing.T) {
	p := newOutboxPair(t, 1<<20, nil)
	want := p.fill(1000)
	if p.o.end([]byte("bye")) {
		t.Fatal("end reported closeNow with bytes queued")
	}
	if st := p.state(); st != outEnding {
		t.Fatalf("state %v, want ending", st)
	}
	if p.o.write([]byte("late")) {
		t.Fatal("a write after end was accepted")
	}
	want = append(want, "bye"...)
	if got := p.readAll(len(want)); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d", len(got), len(want))
	}
	p.expectClose()
	if st := p.state(); st != outDraining {
		t.Fatalf("state %v, want draining", st)
	}
}

// open -> draining: end on an idle Outbox writes the bytes at once and lets
// the caller close.
func TestOutboxEndIdle(t *testing.T) {
	p := newOutboxPair(t, 1<<20, nil)
	if !p.o.end([]byte("bye")) {
		t.Fatal("end on an idle Outbox did not allow an immediate close")
	}
	if st := p.state(); st != outDraining {
		t.Fatalf("state %v, want draining", st)
	}
	if !p.o.end([]byte("again")) {
		t.Fatal("a second end must report the close as due")
	}
	if got := p.readAll(3); string(got) != "bye" {
		t.Fatalf("read %q", got)
	}
}

// open -> draining on a socket error: the connection is closed, never left
// open one frame short.
func TestOutboxSocketError(t *testing.T) {
	p := newOutboxPair(t, 1<<20, nil)
	unix.Close(p.peer)
	p.peer = -1
	p.o.write([]byte("x")) // EPIPE (SIGPIPE is ignored for non-main fds by the runtime)
	p.expectClose()
	if st := p.state(); st != outDraining {
		t.Fatalf("state %v, want draining", st)
	}
}

// ending -> draining at the linger deadline: a client that does not read
// its Logout is closed anyway.
func TestOutboxLinger(t *testing.T) {
	p := newOutboxPair(t, 1<<20, nil)
	p.fill(1000)
	p.o.logout(wire.LogoutIdle)
	p.o.tick(time.Now().UnixNano())
	if st := p.state(); st != outEnding {
		t.Fatalf("state %v before the deadline, want ending", st)
	}
	p.o.tick(time.Now().Add(lingerTimeout + time.Second).UnixNano())
	p.expectClose()
	if st := p.state(); st != outDraining {
		t.Fatalf("state %v, want draining", st)
	}
}

// Past the cap: the write that does not fit is dropped whole, a Logout with
// the outbox's reason goes behind the queue, and the close follows it.
func TestOutboxCap(t *testing.T) {
	const max = 16 << 10
	p := newOutboxPair(t, max, nil)
	want := p.fill(1000)
	for {
		f := bytes.Repeat([]byte{0xab}, 1000)
		if !p.o.write(f) {
			break
		}
		want = append(want, f...)
	}
	select {
	case q := <-p.cuts:
		if q > max {
			t.Fatalf("cut at %d queued bytes, cap %d", q, max)
		}
	default:
		t.Fatal("no cut reported")
	}
	if st := p.state(); st != outEnding {
		t.Fatalf("state %v, want ending", st)
	}
	want = wire.AppendLogout(want, wire.LogoutSlowConsumer)
	if got := p.readAll(len(want)); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d (the queued frames, then the Logout)", len(got), len(want))
	}
	p.expectClose()
}

// The global budget: the Outbox whose write passes it is cut, the others go
// on, and the budget is given back as bytes leave and when an Outbox is
// released.
func TestOutboxBudget(t *testing.T) {
	budget := &ByteBudget{Limit: 24 << 10}
	a := newOutboxPair(t, 1<<20, budget)
	b := newOutboxPair(t, 1<<20, budget)
	a.fill(1000)
	for a.o.write(bytes.Repeat([]byte{1}, 1000)) {
	}
	if st := a.state(); st != outEnding {
		t.Fatalf("a: state %v, want ending (cut by the budget)", st)
	}
	if used := budget.used.Load(); used > budget.Limit+64 {
		t.Fatalf("budget used %d, limit %d", used, budget.Limit)
	}
	a.o.Release()
	if used := budget.used.Load(); used != 0 {
		t.Fatalf("budget used %d after the only queue was released", used)
	}
	want := b.fill(1000)
	if got := b.readAll(len(want)); !bytes.Equal(got, want) {
		t.Fatal("b lost bytes")
	}
	if !nettest.WaitCond(5*time.Second, func() bool { return budget.used.Load() == 0 }) {
		t.Fatalf("budget used %d after b's queue emptied", budget.used.Load())
	}
}

// any -> closed: release drops every later write, wakes a waiter, and lets a
// flusher parked in the poller go; the flusher's dup is closed, and the
// connection's own descriptor (gnet's) is left to its owner.
func TestOutboxRelease(t *testing.T) {
	p := newOutboxPair(t, 1<<20, nil)
	base := openFDs(t)
	p.fill(1000) // a flusher is parked: the peer does not read
	if n := openFDs(t); n != base+1 {
		t.Fatalf("%d descriptors with a parked flusher, want %d (the flusher's dup)", n, base+1)
	}
	var wg sync.WaitGroup
	var stillOpen bool
	wg.Go(func() { stillOpen = p.o.WaitBelow(0) })
	p.o.Release()
	wg.Wait()
	if stillOpen {
		t.Fatal("waitBelow reported open after release")
	}
	if p.o.write([]byte("x")) {
		t.Fatal("a write after release was accepted")
	}
	if !nettest.WaitCond(5*time.Second, func() bool {
		_, _, idle, _, _ := p.o.Stats()
		return idle && openFDs(t) == base
	}) {
		t.Fatalf("the parked flusher did not return and close its dup: %d descriptors, want %d", openFDs(t), base)
	}
	if st := p.state(); st != outClosed {
		t.Fatalf("state %v, want closed", st)
	}
	if fd := p.o.FD(); fd != -1 {
		t.Fatalf("FD %d after release", fd)
	}
	if _, err := unix.FcntlInt(uintptr(p.fd), unix.F_GETFD, 0); err != nil {
		t.Fatalf("release closed the connection's own descriptor: %v", err)
	}
}

// openFDs counts the process's open descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents) - 1 // ReadDir's own
}

// One descriptor per connection: an Outbox holds no descriptor of its own
// while its socket takes every write; a stall gets the flusher a dup, and
// the dup is closed once the flusher has emptied the queue (the bytes
// arrive whole and in order); the next stall gets a new one. Before, every
// Outbox held a dup for its whole life.
func TestOutboxDupOnlyWhileStalled(t *testing.T) {
	budget := &ByteBudget{Limit: 1 << 30}
	p := newOutboxPair(t, 1<<20, budget)
	base := openFDs(t)
	for range 2 {
		if !p.o.write([]byte("hello")) {
			t.Fatal("write refused")
		}
		if got := p.readAll(5); string(got) != "hello" {
			t.Fatalf("read %q", got)
		}
		if n := openFDs(t); n != base {
			t.Fatalf("%d descriptors after a direct write, want %d: an idle Outbox holds none", n, base)
		}
		want := p.fill(1000)
		if n, d := openFDs(t), budget.Dups(); n != base+1 || d != 1 {
			t.Fatalf("stalled: %d descriptors, %d dups counted; want %d and 1", n, d, base+1)
		}
		if got := p.readAll(len(want)); !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes, want %d, equal prefix %v", len(got), len(want), bytes.HasPrefix(want, got))
		}
		if !nettest.WaitCond(5*time.Second, func() bool {
			_, q, idle, _, _ := p.o.Stats()
			return q == 0 && idle && openFDs(t) == base && budget.Dups() == 0
		}) {
			t.Fatalf("after the stall: %d descriptors, %d dups counted; want %d and 0", openFDs(t), budget.Dups(), base)
		}
	}
	if _, _, _, stalls, resumes := p.o.Stats(); stalls != 2 || resumes != 2 {
		t.Fatalf("stalls %d resumes %d, want 2 and 2", stalls, resumes)
	}
}

// A stall that cannot have a dup (dup(2) fails with EMFILE) cuts the
// connection: the cut is reported as a budget cut, the close is requested
// at once, nothing more is written (the queue holds the rest of a frame
// already partly on the wire), what the peer got is a prefix of what was
// written, and nothing crashes or leaks.
func TestOutboxDupFailureCuts(t *testing.T) {
	defer func(f func(int) (int, error)) { dupFD = f }(dupFD)
	dupFD = func(int) (int, error) { return -1, unix.EMFILE }
	budget := &ByteBudget{Limit: 1 << 30}
	p := newOutboxPair(t, 1<<20, budget)
	base := openFDs(t)
	var sent []byte // what the socket took whole, then the frame that stalled
	for i := 0; ; i++ {
		f := bytes.Repeat([]byte{byte(i)}, 1000)
		ok := p.o.write(f)
		sent = append(sent, f...)
		if !ok {
			break
		}
		if i > 10000 {
			t.Fatal("the socket never filled")
		}
	}
	select {
	case q := <-p.cuts:
		if q <= 0 {
			t.Fatalf("cut reported %d bytes queued", q)
		}
	default:
		t.Fatal("no cut reported")
	}
	p.expectClose()
	if st := p.state(); st != outDraining {
		t.Fatalf("state %v, want draining", st)
	}
	p.o.mu.Lock()
	nodup, cut := p.o.nodup, p.o.cut
	p.o.mu.Unlock()
	if nodup != 1 || !cut {
		t.Fatalf("nodup %d cut %v", nodup, cut)
	}
	if p.o.write([]byte("late")) {
		t.Fatal("a write after the cut was accepted")
	}
	if n, d := openFDs(t), budget.Dups(); n != base || d != 0 {
		t.Fatalf("%d descriptors, %d dups counted; want %d and 0", n, d, base)
	}
	// Every frame before the one that stalled, then at most a part of it;
	// then EOF, once the owner closes the socket (gnet, after OnClose).
	p.o.Release()
	unix.Close(p.fd)
	p.fd = -1
	got := p.readAll(len(sent))
	if len(got) < len(sent)-1000 || len(got) == len(sent) || !bytes.HasPrefix(sent, got) {
		t.Fatalf("read %d bytes, prefix %v; want every frame before the last %d bytes and a part of those",
			len(got), bytes.HasPrefix(sent, got), 1000)
	}
	if used := budget.used.Load(); used != 0 {
		t.Fatalf("budget used %d after release", used)
	}
}

// MaxDups bounds the flushers' dups of a server's Outboxes: past it a
// stall cuts its connection (as a failed dup does) and the others go on;
// the dup is counted back when its flusher is done.
func TestOutboxMaxDups(t *testing.T) {
	budget := &ByteBudget{Limit: 1 << 30, MaxDups: 1}
	a := newOutboxPair(t, 1<<20, budget)
	b := newOutboxPair(t, 1<<20, budget)
	want := a.fill(1000) // holds the one dup
	for b.o.write(bytes.Repeat([]byte{1}, 1000)) {
	}
	if st := b.state(); st != outDraining {
		t.Fatalf("b: state %v, want draining (cut: no dup left)", st)
	}
	b.expectClose()
	if got := a.readAll(len(want)); !bytes.Equal(got, want) {
		t.Fatal("a lost bytes")
	}
	if !nettest.WaitCond(5*time.Second, func() bool { return budget.Dups() == 0 }) {
		t.Fatalf("%d dups counted after a's flusher finished", budget.Dups())
	}
	want = a.fill(1000) // the dup is free again
	if got := a.readAll(len(want)); !bytes.Equal(got, want) {
		t.Fatal("a lost bytes on its second stall")
	}
}
