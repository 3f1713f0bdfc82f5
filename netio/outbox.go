package netio

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ringex/ringex/netio/wire"
)

// The Outbox. Every byte a connection sends, on either server, goes through
// its outbox: a byte queue with a cap, under one mutex, with one explicit
// state. It replaces gnet's outbound buffer, which is never used for a
// connection's stream (gnet is handed no bytes once a connection is open).
//
// Single flusher: at most one goroutine writes the connection's socket at a
// time, the flusher. A writer that finds the queue empty and no flusher
// becomes the flusher for its own bytes and calls write(2) directly, under
// the mutex: an ack is written by the ack goroutine itself with no wake-up
// of any other thread (what direct ack writes gained on the unloaded round
// trip is in docs/performance.md). If the socket does not take every byte
// (EAGAIN or a short write), the rest is queued and the flusher role passes to a goroutine that waits for the
// socket to become writable in the Go runtime's network poller (the fd is
// registered there on the first stall), writes the head of the queue, and
// keeps the role until the queue is empty. Meanwhile every other writer
// only appends to the queue. So the connection's bytes reach the socket in
// the order they were queued and no frame is ever split by another writer's
// bytes.
//
// Why not gnet's event loop as the flusher: gnet reports writability only
// for bytes held in its own outbound buffer, and that buffer keeps each
// unsent write in its own power-of-two block from a sync.Pool (so a queue
// of small frames costs up to twice its size plus a node per write, and the
// pooled blocks outlive the connection). The Outbox keeps its own queue of
// fixed blocks, counts it against its cap and a global budget, and frees
// it as it is written and when the connection closes. The cost: a flusher
// is a goroutine woken by the runtime's poller, which a fully loaded
// process polls less promptly than gnet's loops poll theirs
// (docs/performance-notifier.md has the fan-out figures).
//
// Which descriptor is written, and why a write never reaches a reused
// number. A goroutine must never write to a descriptor number that may have
// been closed: the number is reused by the next accept, and the bytes would
// reach another user's new connection. Direct writes go to gnet's own
// descriptor (Conn.Fd), under mu, and only while the state is not closed.
// gnet closes a connection's descriptor in one place, its event loop's
// close, and calls OnClose before it (gnet v2.9.7, eventloop_unix.go; every
// path goes there: a Close action or Conn.Close, a read or write error, a
// hang-up event, and the engine's shutdown, whose loops close each of their
// connections the same way on their way out); OnClose calls release, which
// moves the state to closed under mu. So every direct write is made before
// the descriptor is closed, and none after. (gnet closes a descriptor
// without OnClose only when registering it with its poller fails, before
// OnOpen: no Outbox has it then.) A connection enrolled after a TLS
// handshake (Server.Enroll) is gnet's own dup of the handshake's socket,
// and closes the same way.
//
// The flusher parked in the Go runtime's poller cannot hold mu while it
// waits, and the poller must own the descriptor it waits on; so at a stall
// the Outbox makes a dup of the descriptor (under mu, state not closed) for
// its flusher, and closes it when the flusher gives the role up or at
// release (the os.File's reference keeps it open while a write is under
// way). An idle or fast connection, the huge majority, holds one
// descriptor; a stalled one holds two while it is stalled. The dups a
// server's Outboxes hold at once are bounded (ByteBudget.MaxDups), so that
// the process stays within its descriptor limit: gnet ends its whole engine
// when accept fails with EMFILE. A stall that cannot have a dup (the bound
// is reached, or dup(2) fails) cuts the connection: nothing more is written
// (the queue may hold the rest of a frame already partly on the wire, and
// the socket has no room for a Logout anyway), the cut hook is told (as a
// budget cut) and the close is requested. Bytes already written stay a
// prefix of the stream, in order.
//
// Both descriptors share one open file description, O_NONBLOCK included,
// and only the flusher writes while there is one, so the bytes reach the
// socket in queue order whichever descriptor carries them.
//
// A TLS connection's Outbox seals every write into records under mu before
// it is written or queued (sealSendLocked, tls.go), so the queue, the cap
// and the budget hold ciphertext, the flusher is unchanged, and the order
// of the records is the order of the writes. Its last bytes (end) are
// followed by a close_notify.
//
// States and transitions (OutState), each under mu:
//
//	open     -> ending    end(): the last bytes (a Logout, or a reply
//	                      before a close) are queued behind the rest; later
//	                      writes are dropped. Also past the cap or the
//	                      budget: the bytes that did not fit are dropped
//	                      whole and a Logout with the outbox's reason is
//	                      queued instead.
//	ending   -> draining  the queue is empty (or the linger deadline has
//	                      passed, or the socket failed): the connection's
//	                      close is requested.
//	open     -> draining  the socket failed: nothing more can be written.
//	any      -> closed    release(), from OnClose: the flusher's dup, if
//	                      any, is closed (once no write is under way), the
//	                      queue freed, and the descriptor forgotten.
//
// A connection is closed by gnet only after the Outbox has reached
// draining, except when gnet itself sees the peer go away.
type Outbox struct {
	mu   sync.Mutex
	cond sync.Cond // wakes waitBelow: the queue shrank or the state changed
	// state is changed only under mu; it is atomic so that open can read
	// it without the lock (the event loop asks on every read, and must not
	// wait for a write(2) made under mu).
	state atomicState

	fd       int             // gnet's descriptor of the connection (never closed here); -1 once released
	file     *os.File        // the flusher's dup of fd, registered with the poller; nil while no flusher
	raw      syscall.RawConn // file's, for writes that wait in the poller
	blocks   [][]byte        // the queue: blocks[0][off:], then the other blocks whole
	off      int
	queued   int  // bytes in blocks not yet written
	flushing bool // a goroutine holds the flusher role: the queue is not idle

	max     int          // cap on queued bytes
	budget  *ByteBudget  // shared by every connection of the server; may be nil
	reason  uint16       // the Logout sent when the cap or the budget is passed
	closeBy int64        // Unix ns: an ending Outbox is closed then anyway
	cfg     *OutboxHooks // what the owning server does on a close or a cut
	tls     *TLSConn     // nil: plaintext; else every write is sealed first (tls.go)

	// For tests: how many writes found the socket full (a flusher was
	// started), how many flushers emptied the queue and gave the role up,
	// and whether the Outbox was cut.
	stalls  int
	resumes int
	cut     bool
	nodup   int // stalls that could not have a dup (and cut the connection)

	writeFn func(fd uintptr) bool // o.pollWrite, made once: a method value allocates
	chunk   []byte                // what the flusher is writing (pollWrite's argument)
	wrote   int
	werr    error
}

type OutState uint8

const (
	outOpen     OutState = iota // writes are accepted
	outEnding                   // the last bytes are queued; the close follows once they are out
	outDraining                 // every byte is out (or lost): the close is requested
	outClosed                   // the connection is closed: the dup is released
)

// setLocked moves the Outbox to state st and wakes waitBelow. The caller
// holds mu.
func (o *Outbox) setLocked(st OutState) {
	o.state.set(st)
	o.cond.Broadcast()
}

// atomicState holds an OutState.
type atomicState struct{ v atomic.Uint32 }

func (a *atomicState) get() OutState  { return OutState(a.v.Load()) }
func (a *atomicState) set(s OutState) { a.v.Store(uint32(s)) }

func (s OutState) String() string {
	switch s {
	case outOpen:
		return "open"
	case outEnding:
		return "ending"
	case outDraining:
		return "draining"
	case outClosed:
		return "closed"
	}
	return "unknown"
}

// OutboxHooks is what an Outbox asks of its server. Both are called without
// the outbox's mutex held.
type OutboxHooks struct {
	// close requests the connection's close (gnet's Conn.Close, which
	// queues it to the event loop).
	Close func()
	// cut reports that the connection passed its cap (queued bytes) or the
	// global budget, and is being logged out.
	Cut func(queued int, budget bool)
}

// ByteBudget bounds what every Outbox of a server holds together: their
// queued bytes (Limit) and the descriptors their flushers hold (MaxDups).
type ByteBudget struct {
	Limit int64
	used  atomic.Int64

	// MaxDups bounds the flushers' dups held at once, one per connection
	// whose socket is full (0: no bound). A stall past it cuts its
	// connection (see the note at the top).
	MaxDups int64
	dups    atomic.Int64
}

// takeDup reserves a descriptor for a flusher's dup.
func (b *ByteBudget) takeDup() bool {
	if b == nil {
		return true
	}
	if n := b.dups.Add(1); b.MaxDups > 0 && n > b.MaxDups {
		b.dups.Add(-1)
		return false
	}
	return true
}

func (b *ByteBudget) giveDup() {
	if b != nil {
		b.dups.Add(-1)
	}
}

// Dups is how many flushers' dups the server's Outboxes hold now.
func (b *ByteBudget) Dups() int64 { return b.dups.Load() }

func (b *ByteBudget) take(n int) bool {
	if b == nil {
		return true
	}
	if b.used.Add(int64(n)) > b.Limit {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

func (b *ByteBudget) give(n int) {
	if b != nil && n != 0 {
		b.used.Add(-int64(n))
	}
}

// DefaultMaxQueuedBytes caps one connection's unsent bytes, on order entry
// and on market data alike.
const DefaultMaxQueuedBytes = 1 << 20

// lingerTimeout bounds how long a connection's last bytes may wait in its
// Outbox for a client that does not read before the connection is closed
// anyway.
const lingerTimeout = 2 * time.Second

// keptQueue is the largest queue buffer an Outbox keeps once it is empty.
const keptQueue = 4 << 10

// Init readies an Outbox that writes to fd, gnet's descriptor of the
// connection, which it never closes: release must be called from OnClose,
// before gnet closes fd (see the note at the top).
func (o *Outbox) Init(fd, max int, budget *ByteBudget, reason uint16, hooks *OutboxHooks) {
	o.cond.L = &o.mu
	o.fd, o.max, o.budget, o.reason, o.cfg = fd, max, budget, reason, hooks
	o.writeFn = o.pollWrite
}

// Raise lifts the Outbox's cap to n if it is lower (it never lowers it:
// bytes already queued under the old cap stay valid). Any goroutine.
func (o *Outbox) Raise(n int) {
	o.mu.Lock()
	o.max = max(o.max, n)
	o.mu.Unlock()
}

// write sends b: at once if the queue is idle, else behind the queued
// bytes. b is not retained. It reports false if the bytes were dropped
// (the Outbox is no longer open, or b did not fit and the connection is
// being cut). Any goroutine.
func (o *Outbox) write(b []byte) bool {
	o.mu.Lock()
	if o.state.get() != outOpen {
		o.mu.Unlock()
		return false
	}
	if len(b) == 0 {
		o.mu.Unlock()
		return true
	}
	var ok bool
	var a afterAction
	if o.tls != nil {
		ok, a = o.sealSendLocked(b)
	} else {
		ok, a = o.sendLocked(b)
	}
	o.mu.Unlock()
	o.after(a)
	return ok
}

// after runs the hook a locked transition asked for, without the lock.
func (o *Outbox) after(a afterAction) {
	switch a.kind {
	case doClose:
		o.cfg.Close()
	case doCut:
		o.cfg.Cut(a.queued, a.budget)
	case doCutClose:
		o.cfg.Cut(a.queued, a.budget)
		o.cfg.Close()
	}
}

type afterKind uint8

const (
	doNothing afterKind = iota
	doClose
	doCut
	doCutClose // a cut that cannot send its Logout: the connection is closed at once
)

type afterAction struct {
	kind   afterKind
	queued int
	budget bool
}

// sendLocked writes b directly if the queue is idle and queues what the
// socket does not take. The caller holds mu and has checked the state.
func (o *Outbox) sendLocked(b []byte) (bool, afterAction) {
	if !o.flushing {
		n, err := o.writeFD(b)
		if err != nil {
			return false, o.failedLocked()
		}
		if n == len(b) {
			return true, afterAction{}
		}
		b = b[n:]
		if n > 0 {
			// Part of a frame is on the wire: the rest must follow
			// whatever the cap says, or the stream would be corrupt.
			o.appendLocked(b)
			o.budget.forceTake(len(b))
			a := o.startFlusherLocked()
			return a.kind == doNothing, a
		}
	}
	if q := o.queued; q+len(b) > o.max {
		return false, o.cutLocked(q, false)
	}
	if !o.budget.take(len(b)) {
		return false, o.cutLocked(o.queued, true)
	}
	o.appendLocked(b)
	if !o.flushing {
		a := o.startFlusherLocked()
		return a.kind == doNothing, a
	}
	return true, afterAction{}
}

// sealSendLocked is sendLocked for a TLS connection: b is sealed into
// records, which are written at once if the queue is idle, else queued.
// The cap and the budget are checked before sealing, against the largest
// ciphertext b can make: a sealed record has taken its sequence number, so
// dropping it would break the stream (the Logout of a cut would not
// decrypt). Like a partly written frame, the records of a write that the
// idle socket does not take whole are queued whatever the cap says.
func (o *Outbox) sealSendLocked(b []byte) (bool, afterAction) {
	if o.flushing {
		need := sealedMax(len(b))
		if q := o.queued; q+need > o.max {
			return false, o.cutLocked(q, false)
		}
		if !o.budget.fits(need) {
			return false, o.cutLocked(o.queued, true)
		}
	}
	rec, err := o.tls.seal(b, false)
	if err != nil {
		return false, o.failedLocked()
	}
	a := o.sendSealedLocked(rec)
	o.tls.pipe.recycle(rec)
	return a.kind == doNothing, a
}

// sendSealedLocked writes records whole: what the socket does not take is
// queued past the cap. The caller holds mu.
func (o *Outbox) sendSealedLocked(b []byte) afterAction {
	if !o.flushing {
		n, err := o.writeFD(b)
		if err != nil {
			return o.failedLocked()
		}
		b = b[n:]
		if len(b) == 0 {
			return afterAction{}
		}
	}
	o.appendLocked(b)
	o.budget.forceTake(len(b))
	if !o.flushing {
		return o.startFlusherLocked()
	}
	return afterAction{}
}

// flushTLS sends the records crypto/tls wrote while the event loop read
// (the answer to a KeyUpdate, an alert). Event loop, after the read.
func (o *Outbox) flushTLS() {
	o.mu.Lock()
	rec := o.tls.pipe.takeOut()
	var a afterAction
	if st := o.state.get(); st == outOpen || st == outEnding {
		a = o.sendSealedLocked(rec)
	}
	o.tls.pipe.recycle(rec)
	o.mu.Unlock()
	o.after(a)
}

// fits reports whether n more bytes fit the budget now (sealSendLocked's
// check before it seals; the bytes are then taken with forceTake).
func (b *ByteBudget) fits(n int) bool {
	return b == nil || b.used.Load()+int64(n) <= b.Limit
}

func (b *ByteBudget) forceTake(n int) {
	if b != nil {
		b.used.Add(int64(n))
	}
}

// cutLocked ends an Outbox whose cap or budget a write passed: the write is
// dropped whole (the queue holds whole frames behind its head, so the
// stream stays readable) and a Logout with the outbox's reason is queued
// behind the rest, past the cap. The connection closes once the Logout is
// out or at the linger deadline.
func (o *Outbox) cutLocked(queued int, budget bool) afterAction {
	o.cut = true
	if a := o.endLocked(logoutFrame(o.reason)); a.kind != doNothing {
		return a // no flusher could be started: already a cut
	}
	if o.state.get() == outDraining {
		// The Logout went out at once: nobody else will ask for the close.
		return afterAction{kind: doCutClose, queued: queued, budget: budget}
	}
	return afterAction{kind: doCut, queued: queued, budget: budget}
}

func logoutFrame(reason uint16) []byte { return wire.AppendLogout(make([]byte, 0, 8), reason) }

// end queues b, the connection's last bytes, and closes the connection
// once they are written. It reports whether the connection may be closed
// at once (everything is written): the caller in the event loop then
// returns gnet.Close itself; otherwise the close is requested by whoever
// empties the queue, or by tick at the linger deadline. Only the first end
// has an effect; a later one reports whether the close is already due.
func (o *Outbox) end(b []byte) (closeNow bool) {
	o.mu.Lock()
	if o.state.get() != outOpen {
		closeNow = o.state.get() >= outDraining
		o.mu.Unlock()
		return closeNow
	}
	o.endLocked(b) // a stall without a dup leaves it draining: closed now
	closeNow = o.state.get() == outDraining
	o.mu.Unlock()
	return closeNow
}

// endLocked moves an open Outbox to ending, or straight to draining if b
// was written whole (or cannot be). It returns the cut to report if the
// rest of b needed a flusher and none could be started.
func (o *Outbox) endLocked(b []byte) afterAction {
	o.closeBy = time.Now().Add(lingerTimeout).UnixNano()
	if o.tls != nil {
		// The last bytes are sealed, with a close_notify behind them.
		rec, err := o.tls.seal(b, true)
		if err != nil {
			o.setLocked(outDraining)
			return afterAction{}
		}
		defer o.tls.pipe.recycle(rec)
		b = rec
	}
	if !o.flushing && len(b) > 0 {
		n, err := o.writeFD(b)
		if err != nil {
			o.setLocked(outDraining)
			return afterAction{}
		}
		b = b[n:]
	}
	if len(b) == 0 && !o.flushing {
		o.setLocked(outDraining)
		return afterAction{}
	}
	o.appendLocked(b)
	o.budget.forceTake(len(b))
	o.setLocked(outEnding)
	if !o.flushing {
		return o.startFlusherLocked()
	}
	return afterAction{}
}

// logout sends a Logout with reason and closes the connection once it is
// out. Any goroutine; only the first call (of logout, end or a cut) has an
// effect.
func (o *Outbox) logout(reason uint16) {
	if !o.end(logoutFrame(reason)) {
		return
	}
	o.cfg.Close()
}

// tick closes an ending Outbox whose linger deadline has passed: the client
// does not read its last bytes. OnTick calls it for every connection.
func (o *Outbox) tick(now int64) {
	o.mu.Lock()
	due := o.state.get() == outEnding && now > o.closeBy
	if due {
		o.setLocked(outDraining)
	}
	o.mu.Unlock()
	if due {
		o.cfg.Close()
	}
}

// failedLocked handles a socket error: the bytes are lost, so the
// connection goes no further (it would otherwise go on one frame short).
func (o *Outbox) failedLocked() afterAction {
	if o.state.get() >= outDraining {
		return afterAction{}
	}
	o.setLocked(outDraining)
	return afterAction{kind: doClose}
}

// writeFD makes one non-blocking write(2) of b. EAGAIN is 0 bytes and no
// error. The caller holds mu, and no flusher is running.
func (o *Outbox) writeFD(b []byte) (int, error) {
	if o.fd < 0 {
		return 0, errOutboxClosed
	}
	for {
		n, err := unix.Write(o.fd, b)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
		case unix.EAGAIN:
			return 0, nil
		default:
			return 0, err
		}
	}
}

var errOutboxClosed = errors.New("netio: Outbox closed")

// startFlusherLocked hands the flusher role to a goroutine that waits for
// the socket in the runtime's poller, through a dup of the descriptor made
// now (see the note at the top): a connection that never stalls (most of
// them) holds no dup and costs the poller nothing. If no dup can be had,
// the connection is cut: it goes to draining with its queue unsent, and
// the returned action reports the cut and requests the close.
func (o *Outbox) startFlusherLocked() afterAction {
	if err := o.dupLocked(); err != nil {
		o.nodup++
		o.cut = true
		o.setLocked(outDraining)
		return afterAction{kind: doCutClose, queued: o.queued, budget: true}
	}
	o.flushing = true
	o.stalls++
	go o.flush()
	return afterAction{}
}

// dupFD duplicates a descriptor, close-on-exec; tests replace it to make
// it fail.
var dupFD = func(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
}

var errNoDup = errors.New("netio: no descriptor left for a flusher")

// dupLocked makes the flusher's dup of fd and registers it with the
// runtime's poller, within the server's bound on dups. The caller holds mu
// (so fd is still gnet's open descriptor: release has not run).
func (o *Outbox) dupLocked() error {
	if o.fd < 0 {
		return errOutboxClosed
	}
	if !o.budget.takeDup() {
		return errNoDup
	}
	fd, err := dupFD(o.fd)
	if err != nil {
		o.budget.giveDup()
		return err
	}
	o.file = os.NewFile(uintptr(fd), "outbox")
	raw, err := o.file.SyscallConn()
	if err != nil {
		// Not pollable (cannot happen for a non-blocking socket).
		o.dropDupLocked()
		return err
	}
	o.raw = raw
	return nil
}

// dropDupLocked closes the flusher's dup, if any. A write under way keeps
// the descriptor open until it returns (the os.File's reference); its
// share of MaxDups is given back now.
func (o *Outbox) dropDupLocked() {
	if o.file == nil {
		return
	}
	_ = o.file.Close()
	o.file, o.raw = nil, nil
	o.budget.giveDup()
}

// flush is the flusher goroutine: it writes the head of the queue as the
// socket takes it until the queue is empty, then gives the role up (and,
// if the Outbox is ending, requests the close).
func (o *Outbox) flush() {
	o.mu.Lock()
	for {
		if o.state.get() >= outDraining || o.raw == nil {
			o.flushing = false
			o.dropDupLocked()
			o.cond.Broadcast()
			o.mu.Unlock()
			return
		}
		if o.queued == 0 {
			o.flushing = false
			o.dropDupLocked()
			o.resumes++
			o.resetQueueLocked()
			ending := o.state.get() == outEnding
			if ending {
				o.state.set(outDraining)
			}
			o.cond.Broadcast()
			o.mu.Unlock()
			if ending {
				o.cfg.Close()
			}
			return
		}
		// Appenders may add to this block (past the chunk) and add blocks
		// meanwhile; blocks never move, and only the flusher consumes.
		o.chunk = o.blocks[0][o.off:]
		raw := o.raw
		o.mu.Unlock()
		o.wrote, o.werr = 0, nil
		err := raw.Write(o.writeFn)
		if err == nil {
			err = o.werr
		}
		o.mu.Lock()
		o.chunk = nil
		o.consumeLocked(o.wrote)
		if err != nil {
			// The socket failed, or release closed the file under us.
			a := o.failedLocked()
			o.flushing = false
			o.dropDupLocked()
			o.cond.Broadcast()
			o.mu.Unlock()
			o.after(a)
			return
		}
		o.cond.Broadcast()
	}
}

// pollWrite is the flusher's write, called by the poller with the fd while
// it holds a reference on it; returning false waits for writability.
func (o *Outbox) pollWrite(fd uintptr) bool {
	for {
		n, err := unix.Write(int(fd), o.chunk)
		switch err {
		case nil:
			o.wrote = n
			return true
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			o.werr = err
			return true
		}
	}
}

// The queue is a list of blocks that never move once allocated: a flusher
// writes from the head block without the lock while writers append to the
// tail, and a written block is dropped at once. So a queue costs its bytes
// plus at most one partly filled block, and nothing is copied but the
// bytes themselves (growing one contiguous buffer would move them, and a
// parked flusher would keep the old buffer alive besides).
const (
	outBlock      = 16 << 10 // the size of a queue block
	outFirstBlock = 2 << 10  // the first block of a queue is smaller: most stalls are short
)

// appendLocked queues b.
func (o *Outbox) appendLocked(b []byte) {
	o.queued += len(b)
	if n := len(o.blocks); n > 0 {
		tail := o.blocks[n-1]
		k := copy(tail[len(tail):cap(tail)], b)
		o.blocks[n-1] = tail[:len(tail)+k]
		b = b[k:]
	}
	for len(b) > 0 {
		size := outBlock
		if len(o.blocks) == 0 {
			size = outFirstBlock
		}
		blk := make([]byte, 0, max(size, min(len(b), 1<<20)))
		k := copy(blk[:cap(blk)], b)
		o.blocks = append(o.blocks, blk[:k])
		b = b[k:]
	}
}

// consumeLocked drops n written bytes from the head of the queue and
// gives them back to the budget. Only the flusher calls it.
func (o *Outbox) consumeLocked(n int) {
	o.budget.give(n)
	o.queued -= n
	o.off += n
	for len(o.blocks) > 0 && o.off >= len(o.blocks[0]) {
		if len(o.blocks) == 1 && o.off == len(o.blocks[0]) && o.queued == 0 {
			o.resetQueueLocked()
			return
		}
		o.off -= len(o.blocks[0])
		o.blocks[0] = nil
		o.blocks = o.blocks[1:]
	}
}

// resetQueueLocked empties the queue, keeping a small first block.
func (o *Outbox) resetQueueLocked() {
	if len(o.blocks) == 1 && cap(o.blocks[0]) <= keptQueue {
		o.blocks[0] = o.blocks[0][:0]
	} else {
		clear(o.blocks)
		o.blocks = o.blocks[:0]
		if cap(o.blocks) > 8 {
			o.blocks = nil
		}
	}
	o.off, o.queued = 0, 0
}

// Release runs in OnClose, before gnet closes the descriptor: every later
// write is dropped, the queue is freed, the flusher's dup closed (by the
// os.File once a parked flusher has let go of it) and gnet's descriptor
// forgotten (see the note at the top).
func (o *Outbox) Release() {
	o.mu.Lock()
	o.state.set(outClosed)
	o.budget.give(o.queued)
	o.blocks, o.off, o.queued = nil, 0, 0
	o.dropDupLocked()
	o.fd = -1
	o.cond.Broadcast()
	o.mu.Unlock()
}

// waitBelow waits until at most n bytes are queued, and reports whether the
// Outbox is still open. It also returns when the Outbox leaves open (a cut,
// a logout, a close), so a waiter never outlives its connection.
func (o *Outbox) WaitBelow(n int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.state.get() == outOpen && o.queued > n {
		o.cond.Wait()
	}
	return o.state.get() == outOpen
}

// open reports whether writes are accepted. It takes no lock.
func (o *Outbox) Open() bool { return o.state.get() == outOpen }

// stats reports, for tests: the state, the queued bytes, whether the
// queue is idle (the next write goes straight to the socket), how many
// writes found the socket full and how many flushers emptied the queue.
func (o *Outbox) Stats() (st OutState, queued int, idle bool, stalls, resumes int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.state.get(), o.queued, !o.flushing, o.stalls, o.resumes
}

// FD is the connection's descriptor the outbox writes to, -1 once
// released. For tests that tune or watch the socket.
func (o *Outbox) FD() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fd
}
