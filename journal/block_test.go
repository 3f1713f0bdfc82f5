package journal

import (
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/ringex/ringex/engine"
)

// streamCommands returns n commands like an exchange's: times a few
// microseconds apart, order ids counting up, client ids of a few sessions,
// buy and sell alternating around one price.
func streamCommands(r *rand.Rand, from uint64, n int) []engine.Command {
	cmds := make([]engine.Command, n)
	t := int64(1_764_547_200_000_000_000)
	for i := range cmds {
		t += int64(r.IntN(5000))
		user := uint32(1 + r.IntN(4))
		cmds[i] = engine.Command{Seq: from + uint64(i), Time: t, OrderID: 1<<40 + from + uint64(i),
			ClientOrderID: uint64(user)<<32 | (from+uint64(i))/4, UserID: user, Kind: engine.CmdNew,
			Side: engine.Side(1 + i%2), Type: 1, TIF: 1, Price: 5_000_000 + int64(r.IntN(3))*50, Qty: 1 + int64(r.IntN(10))}
	}
	return cmds
}

// blockCommands decodes a version 2 command block with the cursor's
// decoders.
func blockCommands(v []byte) ([]engine.Command, error) {
	h, err := parseBlock(v, recCommand)
	if err != nil {
		return nil, err
	}
	r := varintReader{b: h.recs}
	var c engine.Command
	cmds := make([]engine.Command, 0, h.n)
	for i := range h.n {
		if err := r.command(&c); err != nil {
			return nil, err
		}
		c.Seq = h.first + uint64(i)
		cmds = append(cmds, c)
	}
	return cmds, checkEnd(&r)
}

func blockEvents(v []byte) ([]engine.Event, error) {
	h, err := parseBlock(v, recEvent)
	if err != nil {
		return nil, err
	}
	r := varintReader{b: h.recs}
	var st eventState
	evs := make([]engine.Event, 0, h.n)
	for i := range h.n {
		if err := r.event(&st); err != nil {
			return nil, err
		}
		st.prev.Seq = h.first + uint64(i)
		evs = append(evs, st.prev)
	}
	return evs, checkEnd(&r)
}

// extremes returns commands whose fields jump between the extremes of
// their types, so that every difference wraps.
func extremeCommands(from uint64) []engine.Command {
	var cmds []engine.Command
	for i, v := range []uint64{0, math.MaxUint64, 1, math.MaxInt64, 1 << 63, 0, math.MaxUint32, 1<<63 + 1} {
		cmds = append(cmds, engine.Command{Seq: from + uint64(i), Time: int64(v), OrderID: v, ClientOrderID: ^v,
			UserID: uint32(v), Kind: engine.CommandKind(v), Side: engine.Side(v >> 8), Type: engine.OrderType(v),
			TIF: engine.TimeInForce(v), STP: engine.STPMode(v), PostOnly: i%3 == 0, Price: int64(v), Qty: int64(^v)})
	}
	return cmds
}

func TestBlockRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for i := range 2000 {
		n := 1 + r.IntN(blockRecords)
		from := 1 + r.Uint64N(1<<40)
		var cmds []engine.Command
		switch i % 3 {
		case 0:
			cmds = commands(r, from, n)
		case 1:
			cmds = streamCommands(r, from, n)
		default:
			cmds = extremeCommands(from)
		}
		asset := r.Uint32()
		got, err := blockCommands(appendCommandBlock(nil, asset, cmds))
		if err != nil {
			t.Fatalf("commands %d: %v", i, err)
		}
		equalCommands(t, "commands", got, cmds)
		evs := events(r, from, n)
		for j := range evs {
			if r.IntN(2) == 0 { // a non-trade: no maker
				evs[j].MakerOrderID, evs[j].MakerClientOrderID, evs[j].MakerUserID, evs[j].MakerRemaining = 0, 0, 0, 0
			}
			if r.IntN(4) == 0 { // one maker field only
				evs[j].MakerRemaining = int64(r.IntN(2))
			}
		}
		gotEv, err := blockEvents(appendEventBlock(nil, asset, evs))
		if err != nil {
			t.Fatalf("events %d: %v", i, err)
		}
		equalEvents(t, "events", gotEv, evs)
	}
}

// TestBlockSize checks what version 2 is for: an exchange's commands in a
// block take a fraction of their version 1 size.
func TestBlockSize(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	cmds := streamCommands(r, 1, blockRecords)
	n := len(appendCommandBlock(nil, 1, cmds))
	t.Logf("%d commands: %d bytes in version 2, %d in version 1 (%.1f per command)", len(cmds), n, len(cmds)*commandLen, float64(n)/float64(len(cmds)))
	if n*4 > len(cmds)*commandLen {
		t.Errorf("a block of %d commands takes %d bytes, want at most a quarter of %d", len(cmds), n, len(cmds)*commandLen)
	}
}

// TestBlockDamage flips every bit of a block and cuts it at every length:
// each must fail to decode, through the store's readers as a
// *CorruptError at the block's first record, never as other records.
func TestBlockDamage(t *testing.T) {
	s := openStore(t, t.TempDir(), SyncPolicy{Mode: SyncOff}, nil)
	defer s.Close()
	r := rand.New(rand.NewPCG(45, 46))
	cmds := streamCommands(r, 1, 8)
	if err := s.AppendCommands(2, cmds); err != nil {
		t.Fatal(err)
	}
	key := keyOf(t, s, kindCommand, 2, 1)
	v := appendCommandBlock(nil, 2, cmds)
	check := func(what string, damaged []byte) {
		t.Helper()
		if err := s.db.Set(key, damaged, nil); err != nil {
			t.Fatal(err)
		}
		n := 0
		err := s.ReplayCommands(2, 0, func(*engine.Command) error { n++; return nil })
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Seq != 1 || n != 0 {
			t.Fatalf("%s: replay delivered %d records and returned %v, want a *CorruptError at seq 1", what, n, err)
		}
		if _, err := s.LastCommandSeq(2); !errors.As(err, &ce) {
			t.Fatalf("%s: LastCommandSeq returned %v, want a *CorruptError", what, err)
		}
		if err := checkValue(key, damaged); !errors.As(err, &ce) {
			t.Fatalf("%s: Open's check returned %v, want a *CorruptError", what, err)
		}
	}
	for bit := range len(v) * 8 {
		d := append([]byte(nil), v...)
		d[bit/8] ^= 1 << (bit % 8)
		check("bit "+strconv.Itoa(bit), d)
	}
	for n := range len(v) {
		check("cut at "+strconv.Itoa(n), v[:n])
	}
}

// refit makes a block's stated length and checksum match its bytes, so
// that a fuzzer's input reaches the record decoders.
func refit(v []byte) []byte {
	if len(v) >= minBlockLen {
		le.PutUint32(v[2:], uint32(len(v)))
		le.PutUint32(v[len(v)-crcLen:], crc32.Checksum(v[:len(v)-crcLen], castagnoli))
	}
	return v
}

// FuzzCommandBlock decodes arbitrary bytes as a command block, with and
// without a checksum that matches: decoding must not panic, and what
// decodes must encode to a block that decodes the same.
func FuzzCommandBlock(f *testing.F) {
	r := rand.New(rand.NewPCG(47, 48))
	f.Add(appendCommandBlock(nil, 1, streamCommands(r, 1, 10)), false)
	f.Add(appendCommandBlock(nil, 7, commands(r, 5, 3)), true)
	f.Add(appendCommandBlock(nil, 7, extremeCommands(9)), true)
	f.Fuzz(func(t *testing.T, b []byte, fit bool) {
		if fit {
			b = refit(b)
		}
		cmds, err := blockCommands(b)
		if err != nil {
			return
		}
		// Open's check passes what the readers take.
		if err := checkBlock(kindCommand, 1, cmds[0].Seq, appendCommandBlock(nil, 1, cmds)); err != nil {
			t.Fatalf("checkBlock: %v", err)
		}
		if h, _ := parseBlock(b, recCommand); checkBlock(kindCommand, h.asset, h.first, b) != nil {
			t.Fatal("checkBlock refused a block the decoder took")
		}
		again, err := blockCommands(appendCommandBlock(nil, 1, cmds))
		if err != nil {
			t.Fatal(err)
		}
		equalCommands(t, "re-encoded", again, cmds)
	})
}

// FuzzEventBlock is FuzzCommandBlock for events.
func FuzzEventBlock(f *testing.F) {
	r := rand.New(rand.NewPCG(49, 50))
	f.Add(appendEventBlock(nil, 1, events(r, 1, 10)), false)
	f.Add(appendEventBlock(nil, 3, events(r, 4, 2)), true)
	f.Fuzz(func(t *testing.T, b []byte, fit bool) {
		if fit {
			b = refit(b)
		}
		evs, err := blockEvents(b)
		if err != nil {
			return
		}
		again, err := blockEvents(appendEventBlock(nil, 1, evs))
		if err != nil {
			t.Fatal(err)
		}
		equalEvents(t, "re-encoded", again, evs)
	})
}

// FuzzBlockRoundTrip encodes commands and events built from the fuzzer's
// values and decodes them back.
func FuzzBlockRoundTrip(f *testing.F) {
	f.Add(uint64(1), int64(0), uint64(0), uint32(0), int64(0), uint64(1))
	f.Add(uint64(math.MaxUint64-3), int64(math.MinInt64), uint64(math.MaxUint64), uint32(math.MaxUint32), int64(-1), uint64(99))
	f.Fuzz(func(t *testing.T, seq uint64, a int64, b uint64, u uint32, p int64, seed uint64) {
		if seq == 0 || seq > maxSeq-8 {
			return
		}
		r := rand.New(rand.NewPCG(seed, 1))
		cmds := commands(r, seq, 1+r.IntN(8))
		evs := events(r, seq, len(cmds))
		for i := range cmds {
			c, e := &cmds[i], &evs[i]
			if r.IntN(2) == 0 {
				c.Time, c.OrderID, c.UserID, c.Price, c.Qty = a, b, u, p, int64(b)
				e.Time, e.OrderID, e.UserID, e.Price, e.MakerOrderID = a, b, u, p, b
			}
		}
		got, err := blockCommands(appendCommandBlock(nil, u, cmds))
		if err != nil {
			t.Fatal(err)
		}
		equalCommands(t, "commands", got, cmds)
		gotEv, err := blockEvents(appendEventBlock(nil, u, evs))
		if err != nil {
			t.Fatal(err)
		}
		equalEvents(t, "events", gotEv, evs)
	})
}

// TestVersion1Store reads a store of version 1 records, as the store wrote
// them before version 2 blocks: it opens, replays and scans them exactly,
// backward too, and takes version 2 appends after them, read back across
// the change of version in both directions.
func TestVersion1Store(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, SyncPolicy{}, nil)
	r := rand.New(rand.NewPCG(51, 52))
	cmds, evs := commands(r, 1, 150), events(r, 1, 150)
	for i := range evs {
		evs[i].Kind = engine.EventKind(1 + i%2) // every other one a trade
	}
	writeV1(t, s, 5, cmds, evs)
	s.Close()

	s = openStore(t, dir, SyncPolicy{}, nil) // Open checks every record
	equalCommands(t, "version 1 commands", replayAll(t, s, 5, 0), cmds)
	equalEvents(t, "version 1 events", scanAll(t, s, 5, 0), evs)
	equalCommands(t, "version 1 commands after 70", replayAll(t, s, 5, 70), cmds[70:])
	if last, err := s.LastCommandSeq(5); err != nil || last != 150 {
		t.Fatalf("LastCommandSeq: %d, %v", last, err)
	}
	more, moreEv := commands(r, 151, 100), events(r, 151, 100)
	for i := range moreEv {
		moreEv[i].Kind = engine.EventKind(1 + i%2)
	}
	if err := s.AppendCommands(5, more); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(5, moreEv); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openStore(t, dir, SyncPolicy{}, nil)
	defer s.Close()
	all, allEv := append(cmds, more...), append(evs, moreEv...)
	equalCommands(t, "both versions", replayAll(t, s, 5, 0), all)
	equalEvents(t, "both versions' events", scanAll(t, s, 5, 0), allEv)
	equalCommands(t, "both versions after 140", replayAll(t, s, 5, 140), all[140:])
	var trades []engine.Event
	for _, e := range allEv {
		if e.Kind == engine.EvTrade {
			trades = append(trades, e)
		}
	}
	got, err := s.LastTrades(5, 100) // back across the change of version
	if err != nil {
		t.Fatal(err)
	}
	equalEvents(t, "last trades", got, trades[len(trades)-100:])
	if last, err := s.LastEventSeq(5); err != nil || last != 250 {
		t.Fatalf("LastEventSeq: %d, %v", last, err)
	}
}

// BenchmarkBlockEncode measures the encoding of a block of 64 commands and
// one of their events (the load generator's alternation).
func BenchmarkBlockEncode(b *testing.B) {
	cmds := streamCommands(rand.New(rand.NewPCG(53, 54)), 1, blockRecords)
	evs := tradeEvents(1, cmds, nil)[:blockRecords]
	buf := make([]byte, 0, 1<<14)
	for b.Loop() {
		buf = appendCommandBlock(buf[:0], 1, cmds)
		buf = appendEventBlock(buf, 1, evs)
	}
	b.ReportMetric(float64(len(buf))/float64(2*blockRecords), "B/record")
}
