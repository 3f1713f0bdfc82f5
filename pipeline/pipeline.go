package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
	"github.com/ringex/ringex/ring"
)

// Errors returned by Submit. The gateway maps each to a reject reason.
var (
	ErrBusy        = errors.New("pipeline: input ring full")
	ErrUnavailable = errors.New("pipeline: journal unavailable")
	ErrClosed      = errors.New("pipeline: closed")
)

// Slot is one entry of an asset's input ring.
type Slot struct {
	Cmd engine.Command
	// Token identifies the sender to the AckSink; the pipeline never reads it.
	Token uint64
	// failed is set by the journal consumer when the slot's batch could not
	// be committed; the matcher skips it and the acker rejects it.
	failed bool
}

// Failed reports whether the slot's command was not journaled. Only the
// AckSink may ask, inside HandleAcks.
func (s *Slot) Failed() bool { return s.failed }

// Out is one entry of an asset's output ring: an engine event, or an L2
// level change, which follows the event that made it. Only the field of
// its kind is written: Event when IsLevel is false, Level when it is true;
// the other holds whatever an earlier lap of the ring left there.
type Out struct {
	Event   engine.Event
	Level   engine.LevelChange
	IsLevel bool
	// EventSeq is the event that made the level change (Level.Seq): the
	// entry just before it or an earlier one of its command. Zero for
	// events.
	EventSeq uint64
}

// AckSink receives acknowledgements. HandleAcks is called by the journal
// goroutine of the asset's asset group once per asset of each journal
// pass, after the pass's commit returned, with the ring range it covers;
// it reads the slots with a.Input(seq). The calls of one group never
// overlap; those of different groups may. If the sink is also an
// AckFlusher, FlushAcks(group) follows the calls of each pass. The group's
// next pass is acked, and this one matched, only after they return (under
// SyncAlways the next pass is being written to the WAL meanwhile).
type AckSink interface {
	HandleAcks(a *Asset, lo, hi int64)
}

// OutputSink receives the output ring. HandleOutput is called by the
// output goroutine of the asset's asset group once per available range of
// each pass, after the pass's events were appended to the event journal;
// it reads the entries with a.Output(seq). The calls of one group never
// overlap; those of different groups may. It must not block for long: the
// matchers of the whole group wait on it when an output ring is full, and
// it must not wait for the event journal (WaitEventsJournaled) of any
// asset of its group, which only its own goroutine advances.
type OutputSink interface {
	HandleOutput(a *Asset, lo, hi int64)
}

// AssetSpec names an asset to run.
type AssetSpec struct {
	ID     uint32
	Config engine.AssetConfig
}

// CPUs pins stages to CPUs; -1 leaves a stage unpinned. The acker runs on
// the journal's goroutine and the notifier on the event journal's
// (group.go), so Acker pins the journal's goroutine and Notifier the
// event journal's when those are not pinned themselves; each pair must
// not name two different CPUs. The matchers run on the journal's
// goroutine too, unless Matcher names a CPU other than the journal's:
// then they get a goroutine of their own, pinned there (matchOnCommit). Each CPU is shared by that stage of every
// asset group, and under SyncAlways the journal's WAL writer goroutine
// shares the journal's.
type CPUs struct {
	Journal, Matcher, Acker, EventJournal, Notifier int
}

// goroutines returns the CPUs of the three stages of an asset group: the
// commit, the matchers and the output.
func (c CPUs) goroutines() (commit, matcher, output int, err error) {
	pair := func(a, b int, an, bn string) (int, error) {
		if a >= 0 && b >= 0 && a != b {
			return 0, fmt.Errorf("pipeline: the %s runs on the %s's goroutine: pinned to CPUs %d and %d", bn, an, a, b)
		}
		return max(a, b), nil
	}
	if commit, err = pair(c.Journal, c.Acker, "journal", "acker"); err != nil {
		return
	}
	if output, err = pair(c.EventJournal, c.Notifier, "event journal", "notifier"); err != nil {
		return
	}
	return commit, c.Matcher, output, nil
}

// ownMatcher reports whether the matchers get a goroutine of their own:
// only when they are pinned to a CPU that the commit's goroutine is not
// (see matchOnCommit).
func (c CPUs) ownMatcher() bool {
	commit, matcher, _, err := c.goroutines()
	return err == nil && matcher >= 0 && matcher != commit
}

// NoPinning leaves every stage to the Go scheduler.
var NoPinning = CPUs{-1, -1, -1, -1, -1}

// Config tunes every asset's pipeline.
type Config struct {
	InSize, OutSize int               // ring sizes, powers of two
	Wait            ring.WaitStrategy // how consumers wait
	SnapshotEvery   uint64            // commands between book snapshots; 0 disables
	Prune           bool              // delete journal entries older than the newest snapshot
	Pin             CPUs
	// AssetGroups is how many asset groups the assets are spread over
	// (group.go): the assets of a group share a journal goroutine, which
	// commits every asset's pass as one batch, a matcher goroutine and an
	// output goroutine. 0 means 1; more than the number of assets means
	// one per asset.
	AssetGroups int
	Logger      *slog.Logger
	Metrics     *Metrics // optional
}

// The ring sizes of a zero Config.
const (
	DefaultInSize  = 1 << 16
	DefaultOutSize = 1 << 17
)

func (c *Config) setDefaults() {
	if c.InSize == 0 {
		c.InSize = DefaultInSize
	}
	if c.OutSize == 0 {
		c.OutSize = DefaultOutSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Pin == (CPUs{}) {
		c.Pin = NoPinning
	}
}

// Exchange is the set of running asset pipelines over one store.
type Exchange struct {
	store    *journal.Store
	cfg      Config
	assets   []*Asset
	groups   []*assetGroup
	bySymbol map[string]*Asset
	byID     map[uint32]*Asset
	wg       sync.WaitGroup
	errs     chan error
	started  bool
}

// Asset is one asset's pipeline.
type Asset struct {
	ID     uint32
	Symbol string
	Config engine.AssetConfig

	ex    *Exchange
	in    *ring.Ring[Slot]
	out   *ring.Ring[Out]
	book  *engine.Book
	store *journal.Store
	log   *slog.Logger
	m     *assetMetrics

	// The input ring has the commit (journal, acks and, unless matchC is
	// set, the matcher) and, when the matcher is pinned apart, the
	// matcher behind it (matchC; nil otherwise); the output ring one
	// consumer, the event journal and the notifier (group.go). Under SyncAlways the commit is split in
	// two, writeC (the WAL write) and commitC behind it (the fsync wait
	// and the acks); under the other policies writeC is nil. Every
	// consumer runs in the asset's asset group (group.go), as the
	// member-th member of that stage's ring.Group.
	writeC, commitC, matchC, outC *ring.Consumer
	group                         *assetGroup
	member                        int

	// base is the journal sequence of ring sequence -1: a command at ring
	// sequence s has journal sequence base+s+1.
	base uint64
	// idOffset turns a journal sequence into an order id number (see
	// OrderID): the command at sequence q, if a New order, gets number
	// q+idOffset. Fixed at Open, above every number an earlier run may have
	// handed out.
	idOffset uint64
	// idReserved is the highest id number reserved in the journal; the
	// journal stage raises it before committing a command above it. Owned
	// by the journal stage after Open.
	idReserved uint64
	// unavailable is set once the journal fails; Submit refuses from then on.
	unavailable atomic.Bool
	closed      atomic.Bool
	// evMark is the last event sequence the event journal holds
	// (stages.go).
	evMark eventMark

	// Matcher-owned state. outNext is the first output sequence not yet
	// published, outClaimed the last claimed (publishOut); apply publishes
	// early once more than outPublishAt would be pending (half the ring).
	outNext, outClaimed, outPublishAt int64
	snapBuf                           bytes.Buffer
	snaps                             chan snapshot
	sinceSnp                          uint64

	// Scratch reused per pass so that the group's commit (cmdBatch, on
	// the writing goroutine) and output (evBatch) do not allocate.
	cmdBatch []engine.Command
	evBatch  []engine.Event
}

type snapshot struct {
	cmdSeq, eventSeq uint64
	data             []byte
}

// Open recovers every asset from store and builds its pipeline. The gates
// stay closed until Start.
func Open(store *journal.Store, specs []AssetSpec, cfg Config) (*Exchange, error) {
	cfg.setDefaults()
	// The pins are applied by newAssetGroups; checked here, before any
	// asset is recovered.
	if _, _, _, err := cfg.Pin.goroutines(); err != nil {
		return nil, err
	}
	ex := &Exchange{
		store:    store,
		cfg:      cfg,
		bySymbol: make(map[string]*Asset, len(specs)),
		byID:     make(map[uint32]*Asset, len(specs)),
		// Room for an error from every stage goroutine, so that none
		// blocks on its send and Close, which reads them after the
		// goroutines have returned, never waits: at most four per asset
		// group (write, commit, matchers, output) and at most a group
		// per asset.
		errs: make(chan error, 4*len(specs)+1),
	}
	stored, err := store.AssetConfigs()
	if err != nil {
		return nil, err
	}
	for _, sp := range specs {
		if sp.ID == 0 || sp.ID >= 1<<16 {
			return nil, fmt.Errorf("pipeline: asset %s: id %d must be in 1..65535 (it fills the top 16 bits of order ids)", sp.Config.Symbol, sp.ID)
		}
		if err := sp.Config.Validate(); err != nil {
			return nil, fmt.Errorf("pipeline: asset id %d: %w", sp.ID, err)
		}
		if _, dup := ex.byID[sp.ID]; dup {
			return nil, fmt.Errorf("pipeline: duplicate asset id %d", sp.ID)
		}
		if _, dup := ex.bySymbol[sp.Config.Symbol]; dup {
			return nil, fmt.Errorf("pipeline: duplicate asset symbol %q", sp.Config.Symbol)
		}
		// Replay is exact only under the configuration the journal was
		// written with: validation depends on tick, lot and bands.
		if old, ok := stored[sp.ID]; ok && old != sp.Config {
			return nil, fmt.Errorf("pipeline: asset id %d: journal was written with %+v, configured %+v; "+
				"an asset's parameters cannot change under an existing journal", sp.ID, old, sp.Config)
		}
		if err := store.PutAssetConfig(sp.ID, sp.Config); err != nil {
			return nil, err
		}
		a, err := ex.openAsset(sp)
		if err != nil {
			return nil, err
		}
		ex.assets = append(ex.assets, a)
		ex.bySymbol[sp.Config.Symbol] = a
		ex.byID[sp.ID] = a
	}
	if len(ex.assets) > 0 {
		if err := ex.newAssetGroups(cfg.AssetGroups); err != nil {
			return nil, err
		}
	}
	for _, a := range ex.assets {
		a.in.Start()
		a.out.Start()
	}
	return ex, nil
}

// Assets returns the assets in the order they were configured.
func (ex *Exchange) Assets() []*Asset { return ex.assets }

// BySymbol finds an asset by symbol.
func (ex *Exchange) BySymbol(sym string) *Asset { return ex.bySymbol[sym] }

// Store is the journal the exchange writes.
func (ex *Exchange) Store() *journal.Store { return ex.store }

func (ex *Exchange) openAsset(sp AssetSpec) (*Asset, error) {
	cfg := ex.cfg
	a := &Asset{
		ID:     sp.ID,
		Symbol: sp.Config.Symbol,
		Config: sp.Config,
		ex:     ex,
		store:  ex.store,
		log:    cfg.Logger.With("asset", sp.Config.Symbol),
		m:      cfg.Metrics.forAsset(sp.Config.Symbol),
		snaps:  make(chan snapshot, 1),
	}
	book, err := recoverBook(ex.store, sp.ID, sp.Config, a.log)
	if err != nil {
		return nil, err
	}
	a.book = book
	a.base = book.LastCmdSeq()
	if err := a.reserveIDs(); err != nil {
		return nil, err
	}

	in, err := ring.New[Slot](ring.Config{Size: cfg.InSize, Wait: cfg.Wait, MultiProducer: true})
	if err != nil {
		return nil, fmt.Errorf("pipeline: asset %s: %w", a.Symbol, err)
	}
	out, err := ring.New[Out](ring.Config{Size: cfg.OutSize, Wait: cfg.Wait})
	if err != nil {
		return nil, fmt.Errorf("pipeline: asset %s: %w", a.Symbol, err)
	}
	a.in, a.out = in, out
	a.outClaimed = -1 // the ring's first sequence is 0
	a.outPublishAt = int64(max(cfg.OutSize/2, 1))
	if ex.store.Policy().Mode == journal.SyncAlways {
		a.writeC = in.NewConsumer("journal-write")
		a.commitC = in.NewConsumer("journal", a.writeC)
	} else {
		a.commitC = in.NewConsumer("journal")
	}
	if cfg.Pin.ownMatcher() {
		a.matchC = in.NewConsumer("matcher", a.commitC)
	}
	a.outC = out.NewConsumer("events")
	// The consumers are pinned with their groups (newAssetGroups), and
	// the rings start once the groups exist (Open).
	return a, nil
}

// Start opens the gates: the stage goroutines start and Submit is accepted.
// acks and output may be nil (then acks and output are discarded).
func (ex *Exchange) Start(acks AckSink, output OutputSink) {
	if ex.started {
		panic("pipeline: Start called twice")
	}
	ex.started = true
	for _, g := range ex.groups {
		g.start(ex, acks, output)
	}
	for _, a := range ex.assets {
		ex.wg.Add(1)
		go a.snapshotWriter(&ex.wg)
	}
}

// matchingDone follows the matchers' group once the input rings are closed
// and drained (or it failed): it hands over a final snapshot (so a clean
// restart replays nothing) and closes the output ring, which lets its
// consumers drain and return.
func (a *Asset) matchingDone() {
	if a.ex.cfg.SnapshotEvery > 0 && a.sinceSnp > 0 && !a.unavailable.Load() {
		a.snaps <- a.takeSnapshot()
	}
	close(a.snaps)
	a.out.Close()
}

// Errors delivers stage failures (for example a CPU that cannot be pinned).
func (ex *Exchange) Errors() <-chan error { return ex.errs }

// Close stops accepting commands, lets every stage drain what was published,
// writes a final snapshot and returns when all stage goroutines are done.
// It does not close the store.
func (ex *Exchange) Close() error {
	for _, a := range ex.assets {
		a.closed.Store(true)
		a.in.Close()
	}
	if !ex.started {
		for _, a := range ex.assets {
			a.out.Close()
		}
		return nil
	}
	// The matcher closes the output ring when the input ring has drained
	// (see matchStage), so the output consumers drain too.
	ex.wg.Wait()
	var errs []error
	for {
		select {
		case err := <-ex.errs:
			errs = append(errs, err)
		default:
			return errors.Join(errs...)
		}
	}
}

// Submit publishes a command into the asset's input ring. It fills in the
// journal sequence (and, for a New order, the exchange order id) and returns
// the sequence. The ack follows through the AckSink with token once the
// command is journaled. If the ring stays full for timeout, Submit returns
// ErrBusy; after a journal failure, ErrUnavailable.
func (a *Asset) Submit(cmd *engine.Command, token uint64, timeout time.Duration) (uint64, error) {
	if a.closed.Load() {
		return 0, ErrClosed
	}
	if a.unavailable.Load() {
		return 0, ErrUnavailable
	}
	s, err := a.in.ClaimTimeout(1, timeout)
	if err != nil {
		if errors.Is(err, ring.ErrFull) {
			a.m.busy()
			return 0, ErrBusy
		}
		return 0, ErrClosed
	}
	slot := a.in.At(s)
	slot.Cmd = *cmd
	seq := a.base + uint64(s) + 1
	slot.Cmd.Seq = seq
	if cmd.Kind == engine.CmdNew {
		slot.Cmd.OrderID = OrderID(a.ID, seq+a.idOffset)
	}
	slot.Token = token
	slot.failed = false
	*cmd = slot.Cmd
	a.in.Publish(s, s)
	return seq, nil
}

// OrderID is the exchange order id with the given id number: the asset id
// in the top 16 bits, so ids are unique across assets and an id names its
// asset, and the number in the low 48 bits.
//
// Numbers increase with the journal sequence and are never reused, even
// when a crash of the machine loses the end of the journal: each start
// continues above the asset's id reservation (journal.ReserveOrderIDs),
// which is fsynced before any id above it is acknowledged. On a new journal
// the number of the New order at sequence q is q; each restart skips to the
// end of the last reservation (at most idChunk numbers).
func OrderID(asset uint32, number uint64) uint64 {
	return uint64(asset)<<48 | number&journal.MaxIDNumber
}

// AssetOfOrder returns the asset id encoded in an exchange order id.
func AssetOfOrder(id uint64) uint32 { return uint32(id >> 48) }

// Input returns the input slot at ring sequence seq (for AckSinks).
func (a *Asset) Input(seq int64) *Slot { return a.in.At(seq) }

// Output returns the output entry at ring sequence seq (for OutputSinks).
func (a *Asset) Output(seq int64) *Out { return a.out.At(seq) }

// Available reports whether the asset's journal is healthy.
func (a *Asset) Available() bool { return !a.unavailable.Load() }

// Book returns the asset's book. It is owned by the matcher goroutine: call
// it only before Start or after Close (for depth at start-up, and tests).
func (a *Asset) Book() *engine.Book { return a.book }

// Group is the index of the asset's group (Config.AssetGroups), for
// AckSinks that keep state per group.
func (a *Asset) Group() int { return a.group.index }

// InOccupancy and OutOccupancy report how full the rings are (for metrics).
func (a *Asset) InOccupancy() int  { return a.in.Occupancy() }
func (a *Asset) OutOccupancy() int { return a.out.Occupancy() }

// idChunk is how many id numbers one reservation covers: one fsync per
// idChunk commands, and at most idChunk numbers skipped per restart
// (2^28 restarts before the 48 bits run out).
const idChunk = 1 << 20

// reserveIDs fixes the asset's id numbering at Open: the first command
// after the recovered ones gets the number after both the stored
// reservation and the last journaled sequence (a journal from before
// reservations numbered ids by sequence), and a first reservation is
// fsynced before any of them can be handed out.
func (a *Asset) reserveIDs() error {
	reserved, err := a.store.OrderIDReservation(a.ID)
	if err != nil {
		return fmt.Errorf("pipeline: asset %s: %w", a.Symbol, err)
	}
	floor := max(reserved, a.base)
	a.idOffset = floor - a.base
	return a.reserveThrough(floor + 1)
}

// reserveThrough makes sure id number n is reserved, reserving idChunk
// numbers past it if not. It is called by Open and by the journal stage,
// before the command holding n is committed (and so before it can be
// acknowledged).
func (a *Asset) reserveThrough(n uint64) error {
	if n <= a.idReserved {
		return nil
	}
	upTo := min(n+idChunk-1, journal.MaxIDNumber)
	if n > upTo {
		return fmt.Errorf("pipeline: asset %s: id number %d: %w", a.Symbol, n, journal.ErrIDSpace)
	}
	if err := a.store.ReserveOrderIDs(a.ID, upTo); err != nil {
		return err
	}
	a.idReserved = upTo
	return nil
}
