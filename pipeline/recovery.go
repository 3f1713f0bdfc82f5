package pipeline

import (
	"bytes"
	"fmt"
	"log/slog"
	"time"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/journal"
)

// replayFlush is how many rebuilt events recovery writes per batch.
const replayFlush = 4096

// recoverBook rebuilds an asset's book from the store: the newest snapshot,
// then every journaled command after it, in order. Events the event journal
// lacks (the process died between the two journals) are written back. A gap
// in the command sequence or a corrupt record stops recovery with an error;
// nothing is skipped.
func recoverBook(store *journal.Store, id uint32, cfg engine.AssetConfig, log *slog.Logger) (*engine.Book, error) {
	start := time.Now()
	book := engine.NewBook(cfg)
	snpSeq, _, data, ok, err := store.LatestSnapshot(id)
	if err != nil {
		return nil, fmt.Errorf("pipeline: asset %s: read snapshot: %w", cfg.Symbol, err)
	}
	if ok {
		restored, err := engine.Restore(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("pipeline: asset %s: restore snapshot at seq %d: %w", cfg.Symbol, snpSeq, err)
		}
		if got := restored.LastCmdSeq(); got != snpSeq {
			return nil, fmt.Errorf("pipeline: asset %s: snapshot keyed at seq %d holds seq %d", cfg.Symbol, snpSeq, got)
		}
		if restored.Config() != cfg {
			return nil, fmt.Errorf("pipeline: asset %s: snapshot at seq %d has configuration %+v, configured %+v",
				cfg.Symbol, snpSeq, restored.Config(), cfg)
		}
		book = restored
	}
	lastEvent, err := store.LastEventSeq(id)
	if err != nil {
		return nil, fmt.Errorf("pipeline: asset %s: %w", cfg.Symbol, err)
	}
	missing := make([]engine.Event, 0, replayFlush)
	flush := func() error {
		if len(missing) == 0 {
			return nil
		}
		if err := store.AppendEvents(id, missing); err != nil {
			return err
		}
		missing = missing[:0]
		return nil
	}
	replayed := 0
	err = store.ReplayCommands(id, book.LastCmdSeq(), func(c *engine.Command) error {
		if want := book.LastCmdSeq() + 1; c.Seq != want {
			return fmt.Errorf("command sequence gap: want %d, found %d", want, c.Seq)
		}
		for _, ev := range book.Submit(c) {
			if ev.Seq > lastEvent {
				missing = append(missing, ev)
				if len(missing) == replayFlush {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		replayed++
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline: asset %s: replay: %w", cfg.Symbol, err)
	}
	last, err := store.LastCommandSeq(id)
	if err != nil {
		return nil, fmt.Errorf("pipeline: asset %s: %w", cfg.Symbol, err)
	}
	if last > book.LastCmdSeq() {
		return nil, fmt.Errorf("pipeline: asset %s: journal ends at seq %d but replay stopped at %d", cfg.Symbol, last, book.LastCmdSeq())
	}
	log.Info("asset recovered", "snapshot_seq", snpSeq, "replayed", replayed,
		"cmd_seq", book.LastCmdSeq(), "event_seq", book.LastEventSeq(), "took", time.Since(start))
	return book, nil
}
