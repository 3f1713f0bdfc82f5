package marketdata

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/ringex/ringex/auth"
	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/pipeline"
)

// EventJournal is what the notifier reads to replay missed private events
// to a resuming client: the pipeline's event journal (*journal.Store).
type EventJournal interface {
	// ScanEvents calls fn for every event of asset with a sequence above
	// after, in sequence order.
	ScanEvents(asset uint32, after uint64, fn func(*engine.Event) error) error
}

// NotifierConfig configures the market-data server.
type NotifierConfig struct {
	Addr  string       // host:port to listen on
	Users *netio.Users // who may log in for private order events
	Guard *auth.Guard  // logins and audit (package auth); nil: one over Users
	// Store is the event journal that Resume reads. Nil: Resume is refused.
	Store EventJournal
	Loops int // gnet event loops; 0 = one per CPU
	// MaxConns caps connections; beyond it a connection is refused with a
	// Logout. It is lowered at start-up if the file-descriptor limit
	// cannot hold it with the stalled connections' dups (connLimits).
	MaxConns int
	// ReservedFDs is how many file descriptors the rest of the process may
	// need (the journal, the admin server, the order-entry gateway: up to
	// two per session, its socket and, while the socket is full, its
	// flusher's dup; see netio.Outbox); MaxConns is lowered so that the
	// limit holds both. 0 means 256.
	ReservedFDs int
	// MaxQueuedBytes bounds each connection's outbound queue: bytes written
	// that the socket has not taken yet (its outbox keeps them for when it
	// is writable, at about their own size). A subscriber past it is sent
	// Logout(slow consumer) and closed. It should be well above a book
	// snapshot (at most 64 KiB) and a burst of one drain. 0 means 1 MiB:
	// 10,000 subscribers a full second behind a busy asset fit in the
	// default budget below.
	MaxQueuedBytes int64
	// MaxQueuedBytesPrivate is the cap of a connection once it subscribes
	// to (or resumes) its user's private order events (0: 16 MiB, and never
	// below MaxQueuedBytes). Those are not conflated, and a cut ends the
	// user's own execution reports: at a million orders a second one user's
	// fills are about 32 MB/s, so 1 MiB is 30 ms of lag. MaxQueuedTotal
	// still bounds every connection's queue together.
	MaxQueuedBytesPrivate int64
	// MaxQueuedTotal bounds the queued bytes of all connections together
	// (0: 512 MiB); the connection whose write passes it is cut as a slow
	// consumer.
	MaxQueuedTotal int64
	// MaxLoopQueue bounds, in bytes, the output batches queued for one
	// event loop that it has not drained yet (0: 16 MiB). Past it the
	// loop's public batches are dropped (conflated) and its book and BBO
	// subscribers are sent a fresh snapshot once it catches up; a
	// connection whose private events do not fit is cut (Logout 3). The
	// output consumer never waits for a loop.
	MaxLoopQueue int
	// MaxCoalesce is the adaptive coalescing window of an event loop (0:
	// off, every batch is drained as soon as the loop can). After a drain
	// pass of at least 2 ms that wrote to at least 128 connections (many
	// subscribers), the loop's next drain waits until MaxCoalesce has gone
	// by, so that each connection gets the batches of that time in one
	// write; after a shorter or smaller pass a batch goes out at once.
	// ringexd's -md-max-coalesce sets it (5 ms there, the coalescing
	// floor's best window at 1,000 subscribers).
	MaxCoalesce time.Duration
	// LoopNice, 1-MaxLoopNice, lowers the priority of the event loops'
	// threads to that nice value, so that on a busy machine the order path
	// gets a core before the fan-out (notifier_prio.go); 0 leaves them as
	// the process's. ringexd's -md-nice sets it.
	LoopNice int
	// LoopCPUs, if not empty, binds the event loops' threads to these
	// CPUs (notifier_prio.go), so that an operator can keep the fan-out
	// off the cores of the order path; empty leaves them on the process's
	// CPUs. ringexd's -md-cpus sets it.
	LoopCPUs []int
	// ProxyFrom is the proxies whose connections begin with a PROXY
	// header declaring the client's address (netio/proxy.go); empty:
	// none, every connection is plain.
	ProxyFrom netio.ProxyTrust
	// SocketSendBuffer sets SO_SNDBUF on accepted connections (0: the
	// system default). Tests use a small one to make a stall show quickly.
	SocketSendBuffer  int
	HeartbeatInterval time.Duration // the server sends a heartbeat when it has been quiet this long
	IdleTimeout       time.Duration // a connection that sends nothing this long is closed; 0 = never
	MaxLoginFailures  int           // failed logins on one connection before it is closed
	// ResumeTimeout bounds how long a resume waits for the event journal
	// to hold every event the live stream has already passed.
	ResumeTimeout time.Duration
	Logger        *slog.Logger
	Registerer    prometheus.Registerer // nil: no metrics
}

// DefaultMaxQueuedBytesPrivate is MaxQueuedBytesPrivate's default.
const DefaultMaxQueuedBytesPrivate = 16 << 20

func (c *NotifierConfig) setDefaults() {
	netio.SetDefaults(&c.Logger, &c.Guard, c.Users, &c.HeartbeatInterval, &c.MaxLoginFailures)
	if c.MaxConns == 0 {
		c.MaxConns = 16384
	}
	if c.MaxQueuedBytes == 0 {
		c.MaxQueuedBytes = netio.DefaultMaxQueuedBytes
	}
	if c.MaxQueuedBytesPrivate == 0 {
		c.MaxQueuedBytesPrivate = DefaultMaxQueuedBytesPrivate
	}
	c.MaxQueuedBytesPrivate = max(c.MaxQueuedBytesPrivate, c.MaxQueuedBytes)
	if c.MaxQueuedTotal == 0 {
		c.MaxQueuedTotal = 512 << 20
	}
	if c.MaxLoopQueue == 0 {
		c.MaxLoopQueue = 16 << 20
	}
	if c.ReservedFDs == 0 {
		c.ReservedFDs = 256
	}
	if c.ResumeTimeout == 0 {
		c.ResumeTimeout = 5 * time.Second
	}
}

// Notifier is the market-data server. It is the pipeline's OutputSink.
type Notifier struct {
	gnet.BuiltinEventEngine
	srv netio.Server

	cfg     NotifierConfig
	log     *slog.Logger
	m       *notifierMetrics
	shared  freeList[sharedBuf]
	batches *batchPool

	assets []*feedAsset
	byID   map[uint32]*feedAsset
	byKey  map[wire.Symbol]*feedAsset

	nextID    atomic.Uint64
	budget    netio.ByteBudget // every connection's queued bytes
	slowCount atomic.Int64     // slow-consumer disconnects, for tests and logs
	conflated atomic.Int64     // public batches dropped by a loop's inbox bound
	yields    atomic.Int64     // lowered loops' yields of their P mid-pass (notifier_prio.go), for tests
	connsMu   sync.Mutex
	connSet   map[*feedConn]struct{}
	loops     map[gnet.EventLoop]*feedLoop // guarded by connsMu
	resumes   sync.WaitGroup
	// drainHook, if set (tests), runs at the start of every drain task.
	drainHook  func()
	drainChunk int // connections a drain step writes at most (drainChunk; tests lower it)
	logins     netio.LoginRules
}

// NewNotifier builds the market-data server. Call Init with the exchange's
// assets before the pipeline starts.
func NewNotifier(cfg NotifierConfig) *Notifier {
	cfg.setDefaults()
	n := &Notifier{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "notifier"),
		m:       newNotifierMetrics(cfg.Registerer),
		byID:    make(map[uint32]*feedAsset),
		byKey:   make(map[wire.Symbol]*feedAsset),
		connSet: make(map[*feedConn]struct{}),
		loops:   make(map[gnet.EventLoop]*feedLoop),

		drainChunk: drainChunk,
	}
	n.srv.Init("notifier", n.log, n.m.conn)
	n.srv.Proxy = cfg.ProxyFrom
	n.logins = netio.LoginRules{Guard: cfg.Guard, Service: auth.MarketData, MaxFailures: cfg.MaxLoginFailures, Log: n.log, Fails: n.m.conn.LoginFails}
	n.budget.Limit = cfg.MaxQueuedTotal
	n.shared = newFreeList[sharedBuf](4096)
	n.batches = newBatchPool(4096)
	return n
}

// Init takes each asset's depth and last event sequence from its book. It
// must be called before the pipeline starts (the book belongs to the
// matcher from then on) and before Serve; from then on the notifier's depth
// picture follows the level changes of the output ring alone.
func (n *Notifier) Init(assets []*pipeline.Asset) {
	n.assets = n.assets[:0]
	clear(n.byID)
	clear(n.byKey)
	var lv []engine.Level
	for i, a := range assets {
		fa := newFeedAsset(a.ID, i, a.Symbol)
		fa.events = a
		book := a.Book()
		for _, side := range []engine.Side{engine.Buy, engine.Sell} {
			lv = book.Depth(side, -1, lv[:0]) // every level
			levels := make([]depthLevel, len(lv))
			for j, l := range lv {
				levels[j] = depthLevel{price: l.Price, qty: l.Qty, count: l.Count}
			}
			fa.side(side).reset(levels)
		}
		fa.lastSeq = book.LastEventSeq()
		fa.lastBid, fa.lastAsk = fa.bids.best(), fa.asks.best()
		n.assets = append(n.assets, fa)
		n.byID[a.ID] = fa
		n.byKey[fa.key] = fa
	}
}

func (n *Notifier) getShared() *sharedBuf {
	sb := n.shared.get()
	sb.pool = n.shared
	sb.refs.Store(1)
	return sb
}

func (n *Notifier) getBatch() *loopBatch { return n.batches.get() }

func (n *Notifier) putBatch(b *loopBatch) { n.batches.put(b) }

// loopOf returns the feedLoop of an event loop, creating it on first use.
// The caller holds connsMu.
func (n *Notifier) loopOf(el gnet.EventLoop) *feedLoop {
	fl := n.loops[el]
	if fl == nil {
		fl = newFeedLoop(n, len(n.loops), el)
		n.loops[el] = fl
	}
	return fl
}

// Ready is closed once the server accepts connections.
func (n *Notifier) Ready() <-chan struct{} { return n.srv.Ready() }

// Addr is the address the server listens on (useful with port 0), or nil
// before Ready.
func (n *Notifier) Addr() net.Addr { return n.srv.Addr() }

// Serve raises the file-descriptor limit, then runs the event loops until
// Stop. It returns once the server is stopped, with the error that stopped
// it, if any.
func (n *Notifier) Serve() error {
	n.raiseFileLimit()
	return n.srv.Serve(n, n.cfg.Addr, n.cfg.Loops, n.cfg.SocketSendBuffer)
}

// Stop logs every connection out and stops the event loops.
func (n *Notifier) Stop(ctx context.Context) error {
	if !n.srv.Started() {
		return nil
	}
	n.srv.Draining.Store(true)
	n.connsMu.Lock()
	loops := make([]*feedLoop, 0, len(n.loops))
	for _, fl := range n.loops {
		loops = append(loops, fl)
	}
	n.connsMu.Unlock()
	for _, fl := range loops {
		fl.stop() // a delayed drain goes out now, before the logouts
	}
	n.eachConn(func(fc *feedConn) { fc.Logout(wire.LogoutShutdown) })
	err := n.srv.Stop(ctx)
	n.resumes.Wait()
	return err
}

// dupShare: of the descriptors the limit leaves to market data, at least
// one in dupShare is kept for the flushers' dups of stalled connections.
const dupShare = 8

// connLimits is how many connections (at most maxConns), and how many
// flushers' dups at once, a descriptor limit holds once the rest of the
// process has its reserved descriptors; each at least 1.
//
// A market-data connection holds one descriptor, gnet's socket; while its
// socket is full and its outbox's flusher waits for it, a second, the
// flusher's dup, closed when the queue is empty (netio.Outbox). So the
// connections get what the limit leaves less a share for the dups
// (dupShare), and the dups get the rest (netio.ByteBudget.MaxDups). When
// more connections stall at once than there are dups, each further one is
// cut as a slow consumer (closed: its socket is full, so no Logout can be
// sent) while the others go on; a client that reads its stream never
// meets it. The process never goes past its limit on market data's
// account: gnet's accept would fail with EMFILE, and gnet then ends its
// whole engine, every subscriber with it (10,000 subscribers under a hard
// limit of 20,000 did, when the cap counted one descriptor per connection
// and the outbox held a dup for every connection's life).
func connLimits(limit uint64, reserved, maxConns int) (conns, dups int64) {
	avail := int64(limit) - int64(reserved)
	conns = max(min(int64(maxConns), avail-avail/dupShare), 1)
	dups = max(avail-conns, 1)
	return conns, dups
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit, lowers
// MaxConns (with a warning) if even that cannot hold it, and bounds the
// stalled connections' dups to what is left (connLimits).
func (n *Notifier) raiseFileLimit() {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		n.log.Warn("cannot read the file-descriptor limit", "err", err)
		return
	}
	if lim.Cur < lim.Max {
		want := lim
		want.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
			n.log.Warn("cannot raise the file-descriptor limit", "soft", lim.Cur, "hard", lim.Max, "err", err)
		} else {
			n.log.Info("raised the file-descriptor limit", "from", lim.Cur, "to", lim.Max)
			lim = want
		}
	}
	conns, dups := connLimits(lim.Cur, n.cfg.ReservedFDs, n.cfg.MaxConns)
	n.log.Info("file-descriptor limit", "soft", lim.Cur, "hard", lim.Max,
		"reserved_fds", n.cfg.ReservedFDs, "max_stalled_conns", dups)
	if conns < int64(n.cfg.MaxConns) {
		n.log.Warn("the file-descriptor limit caps market-data connections",
			"max_conns_configured", n.cfg.MaxConns, "max_conns", conns, "rlimit_nofile", lim.Cur,
			"reserved_fds", n.cfg.ReservedFDs, "max_stalled_conns", dups)
		n.cfg.MaxConns = int(conns)
	}
	n.budget.MaxDups = dups
}

// OnBoot records the engine so that Stop can reach it.
func (n *Notifier) OnBoot(eng gnet.Engine) gnet.Action {
	n.log.Info("market data listening", "addr", n.srv.Boot(eng), "max_conns", n.cfg.MaxConns,
		"max_queued_bytes", n.cfg.MaxQueuedBytes, "max_queued_bytes_private", n.cfg.MaxQueuedBytesPrivate, "max_queued_total", n.cfg.MaxQueuedTotal)
	return gnet.None
}

// Enroll takes a TLS connection whose handshake is done (netio/tlsfront);
// SocketSendBuffer applies to it as to an accepted one.
func (n *Notifier) Enroll(raw net.Conn, t *netio.TLSConn) error {
	if tc, ok := raw.(*net.TCPConn); ok && n.cfg.SocketSendBuffer > 0 {
		_ = tc.SetWriteBuffer(n.cfg.SocketSendBuffer)
	}
	return n.srv.Enroll(raw, t)
}

// OnOpen registers a connection, or refuses it past MaxConns.
func (n *Notifier) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if refuse := n.srv.Accept(c, n.cfg.MaxConns); refuse != nil {
		return refuse, gnet.Close
	}
	n.connsMu.Lock()
	fc := newFeedConn(n, c, n.loopOf(c.EventLoop()), n.nextID.Add(1))
	n.connSet[fc] = struct{}{}
	n.connsMu.Unlock()
	c.SetContext(fc)
	return nil, gnet.None
}

// OnClose drops every subscription of the connection.
func (n *Notifier) OnClose(c gnet.Conn, err error) gnet.Action {
	fc, ok := c.Context().(*feedConn)
	if !ok {
		return gnet.None
	}
	fc.closed = true
	close(fc.done)
	n.srv.Close(&fc.Conn, err) // audit, the outbox's release, the count
	n.dropSubscriptions(fc)
	n.connsMu.Lock()
	delete(n.connSet, fc)
	n.connsMu.Unlock()
	n.log.Debug("market data connection closed", "remote", fc.Remote, "user", fc.UserName, "err", err)
	return gnet.None
}

// dropSubscriptions removes a closed connection from every asset and from
// its loop's lists. It runs on the connection's loop (OnClose runs between
// drains: nothing on the loop walks the lists meanwhile).
func (n *Notifier) dropSubscriptions(fc *feedConn) {
	for _, fa := range n.assets {
		fa.mu.Lock()
		n.setPublic(fa, fc, 0)
		n.unsubscribeOrders(fa, fc)
		fa.mu.Unlock()
		fc.loop.setMask(fc, fa.idx, 0)
	}
}

func (n *Notifier) eachConn(fn func(*feedConn)) {
	n.connsMu.Lock()
	conns := make([]*feedConn, 0, len(n.connSet))
	for fc := range n.connSet {
		conns = append(conns, fc)
	}
	n.connsMu.Unlock()
	for _, fc := range conns {
		fn(fc)
	}
}

// OnTick sends heartbeats to quiet connections, closes idle ones, and
// closes those whose last bytes waited past the linger deadline.
func (n *Notifier) OnTick() (time.Duration, gnet.Action) {
	now := time.Now().UnixNano()
	n.eachConn(func(fc *feedConn) { n.srv.Tick(&fc.Conn, now, n.cfg.IdleTimeout, n.cfg.HeartbeatInterval) })
	return netio.TickInterval, gnet.None
}

var _ pipeline.OutputSink = (*Notifier)(nil)
