package journal

import (
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/ringex/ringex/engine"
)

// The version 1 encoders of command and event records, as the store wrote
// them before version 2 blocks (2026-12-01): kept to write the stores that
// the tests read back with today's code.

// encodeCommandV1 writes c's version 1 record for asset into b[:commandLen].
func encodeCommandV1(b []byte, asset uint32, c *engine.Command) {
	_ = b[commandLen-1]
	b[0] = recordVersion
	b[1] = recCommand
	b[2] = byte(c.Kind)
	b[3] = byte(c.Side)
	b[4] = byte(c.Type)
	b[5] = byte(c.TIF)
	b[6] = byte(c.STP)
	b[7] = 0
	if c.PostOnly {
		b[7] = 1
	}
	le.PutUint32(b[8:], asset)
	le.PutUint32(b[12:], c.UserID)
	le.PutUint64(b[16:], c.Seq)
	le.PutUint64(b[24:], uint64(c.Time))
	le.PutUint64(b[32:], c.OrderID)
	le.PutUint64(b[40:], c.ClientOrderID)
	le.PutUint64(b[48:], uint64(c.Price))
	le.PutUint64(b[56:], uint64(c.Qty))
	putChecksum(b[:commandLen])
}

// encodeEventV1 writes e's version 1 record for asset into b[:eventLen].
func encodeEventV1(b []byte, asset uint32, e *engine.Event) {
	_ = b[eventLen-1]
	b[0] = recordVersion
	b[1] = recEvent
	b[2] = byte(e.Kind)
	b[3] = byte(e.Side)
	b[4] = e.Reason
	b[5], b[6], b[7] = 0, 0, 0
	le.PutUint32(b[8:], asset)
	le.PutUint32(b[12:], e.UserID)
	le.PutUint64(b[16:], e.Seq)
	le.PutUint64(b[24:], e.CmdSeq)
	le.PutUint64(b[32:], uint64(e.Time))
	le.PutUint64(b[40:], e.OrderID)
	le.PutUint64(b[48:], e.ClientOrderID)
	le.PutUint64(b[56:], uint64(e.Price))
	le.PutUint64(b[64:], uint64(e.Qty))
	le.PutUint64(b[72:], uint64(e.Remaining))
	le.PutUint64(b[80:], e.MakerOrderID)
	le.PutUint64(b[88:], e.MakerClientOrderID)
	le.PutUint64(b[96:], uint64(e.MakerRemaining))
	le.PutUint32(b[104:], e.MakerUserID)
	putChecksum(b[:eventLen])
}

// putCommandsV1 adds cmds to b in version 1 blocks of at most per
// records, as putCommands did before version 2.
func putCommandsV1(b *pebble.Batch, epoch uint64, asset uint32, cmds []engine.Command, per int) {
	for lo := 0; lo < len(cmds); lo += per {
		block := cmds[lo:min(lo+per, len(cmds))]
		op := b.SetDeferred(keyLen, len(block)*commandLen)
		putKey(op.Key, epoch, kindCommand, asset, block[0].Seq)
		for i := range block {
			encodeCommandV1(op.Value[i*commandLen:], asset, &block[i])
		}
		_ = op.Finish()
	}
}

// putEventsV1 adds evs to b in version 1 blocks, as putEvents did.
func putEventsV1(b *pebble.Batch, epoch uint64, asset uint32, evs []engine.Event, per int) {
	for lo := 0; lo < len(evs); lo += per {
		block := evs[lo:min(lo+per, len(evs))]
		op := b.SetDeferred(keyLen, len(block)*eventLen)
		putKey(op.Key, epoch, kindEvent, asset, block[0].Seq)
		for i := range block {
			encodeEventV1(op.Value[i*eventLen:], asset, &block[i])
		}
		_ = op.Finish()
	}
}

// writeV1 writes cmds and evs of asset to s in version 1 blocks of
// blockRecords, in the current epoch, synced, as the store did before
// version 2. The store's appenders do not know of them: reopen it before
// appending more.
func writeV1(t testing.TB, s *Store, asset uint32, cmds []engine.Command, evs []engine.Event) {
	t.Helper()
	b := s.db.NewBatch()
	defer b.Close()
	putCommandsV1(b, s.epoch, asset, cmds, blockRecords)
	putEventsV1(b, s.epoch, asset, evs, blockRecords)
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
}
