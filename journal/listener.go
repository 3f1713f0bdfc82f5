package journal

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// faults is how the store meets a disk it cannot trust: Pebble's background
// errors, on-disk corruption and the first failed write.
//
// Pebble retries a failed flush or compaction at once and forever, reporting
// each failure to EventListener.BackgroundError (a full disk logged 3,000
// errors a second, and a restart on one never finished opening). A
// background error therefore fails the store like a failed write: every
// later write returns ErrUnavailable, so the pipeline rejects orders with
// "journal unavailable" rather than acknowledge them on a disk that cannot
// keep them. The error is logged once per distinct cause and then at most
// once a minute with a repeat count, and each report holds Pebble's
// background goroutine for a growing pause (up to a second, ended by Close),
// which turns Pebble's spin into a slow retry. Pebble calls the listener
// with its mutex held, so a pause also holds back Pebble's other work; the
// store has failed by then and writes nothing, and Close ends the pause.
type faults struct {
	log *slog.Logger

	// opening is set while Open runs: the first failure is then returned by
	// Open instead of logged, so a start on a full disk prints one line.
	opening atomic.Bool
	// failedC is closed by the first failure; Open waits on it beside
	// pebble.Open, which a full disk keeps from ever returning.
	failedC  chan struct{}
	closingC chan struct{} // closed by Close: pauses end
	closing  sync.Once

	backgroundErrors atomic.Uint64

	mu     sync.Mutex
	causes map[string]*causeLog // under mu
	pause  time.Duration        // under mu: the next background pause
}

// causeLog rate-limits the log lines of one cause.
type causeLog struct {
	logged     time.Time
	suppressed int
}

const (
	// faultLogEvery is how often a repeating cause is logged again.
	faultLogEvery = time.Minute
	// maxCauses bounds the causes remembered; past it every new cause
	// shares one entry.
	maxCauses = 64
	// Pebble's background retries are paused from minPause, doubling, to
	// maxPause.
	minPause = 10 * time.Millisecond
	maxPause = time.Second
)

func newFaults(log *slog.Logger) *faults {
	f := &faults{
		log:      log,
		failedC:  make(chan struct{}),
		closingC: make(chan struct{}),
		causes:   make(map[string]*causeLog),
		pause:    minPause,
	}
	f.opening.Store(true)
	return f
}

// failed is called once, by Store.fail, with the first failure.
func (f *faults) failed(cause error) {
	if !f.opening.Load() {
		f.logLimited("journal failed: rejecting every write until restart", cause)
	}
	close(f.failedC)
}

// close ends every pause, present and future, so that Pebble's Close (which
// waits for its background work) is not held up.
func (f *faults) close() { f.closing.Do(func() { close(f.closingC) }) }

// listener returns the Pebble event listener of store s.
func (f *faults) listener(s *Store) *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) { f.background(s, err) },
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			if !f.opening.Load() { // while opening, Open's error names it
				f.logLimited("pebble data corruption", fmt.Errorf("%s: keys %s", info.Path, describeRange(info.Bounds.Start, info.Bounds.End.Key)))
			}
		},
		FlushEnd:      func(pebble.FlushInfo) { s.backgroundEnded() },
		CompactionEnd: func(pebble.CompactionInfo) { s.backgroundEnded() },
		DiskSlow: func(info pebble.DiskSlowInfo) {
			f.log.Warn("disk slow", "info", info.String())
		},
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			f.log.Warn("pebble write stall", "reason", info.Reason)
		},
		WriteStallEnd: func() {
			f.log.Info("pebble write stall over")
		},
	}
}

// backgroundEnded wakes the rotator, if it waits for a flush or a
// compaction (see rotate).
func (s *Store) backgroundEnded() {
	select {
	case s.flushEnded <- struct{}{}:
	default:
	}
}

// background handles one of Pebble's background errors: it fails the store,
// logs the cause if it is due, and pauses the calling Pebble goroutine.
func (f *faults) background(s *Store, err error) {
	if errors.Is(err, pebble.ErrCancelledCompaction) {
		return // expected while compactions are cancelled; Pebble does not report it either
	}
	f.backgroundErrors.Add(1)
	s.fail(fmt.Errorf("pebble background error: %w", err))
	if !f.opening.Load() {
		f.logLimited("pebble background error", err)
	}
	f.mu.Lock()
	d := f.pause
	f.pause = min(2*f.pause, maxPause)
	f.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-f.closingC:
	}
}

// logLimited logs msg with err at Error level, once per distinct root
// cause, and again at most once per faultLogEvery with how many reports
// were left out. The error is logged with Error(), without the stack trace
// Pebble's errors carry.
func (f *faults) logLimited(msg string, err error) {
	key := msg + ": " + rootCause(err).Error()
	now := time.Now()
	f.mu.Lock()
	c := f.causes[key]
	if c == nil {
		if len(f.causes) >= maxCauses {
			key = msg + ": (other causes)"
			c = f.causes[key]
		}
		if c == nil {
			c = &causeLog{}
			f.causes[key] = c
		}
	}
	if !c.logged.IsZero() && now.Sub(c.logged) < faultLogEvery {
		c.suppressed++
		f.mu.Unlock()
		return
	}
	repeated := c.suppressed
	c.logged, c.suppressed = now, 0
	f.mu.Unlock()
	if repeated > 0 {
		f.log.Error(msg, "err", err.Error(), "repeated", repeated, "since", faultLogEvery)
	} else {
		f.log.Error(msg, "err", err.Error())
	}
}

// rootCause is the innermost error of err's Unwrap chain (the first branch
// of a join): the same disk condition reported for different files has the
// same root cause.
func rootCause(err error) error {
	for {
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next := u.Unwrap()
			if next == nil {
				return err
			}
			err = next
		case interface{ Unwrap() []error }:
			errs := u.Unwrap()
			if len(errs) == 0 {
				return err
			}
			err = errs[0]
		default:
			return err
		}
	}
}

// BackgroundErrors returns how many background errors Pebble has reported
// (for a metric).
func (s *Store) BackgroundErrors() uint64 { return s.faults.backgroundErrors.Load() }
