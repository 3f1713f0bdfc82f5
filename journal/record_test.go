package journal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/ringex/ringex/engine"
)

// randCommand fills every field with random bits, including enum values the
// engine would reject: the journal stores whatever it is given.
func randCommand(r *rand.Rand, seq uint64) engine.Command {
	return engine.Command{
		Seq:           seq,
		Time:          int64(r.Uint64()),
		OrderID:       r.Uint64(),
		ClientOrderID: r.Uint64(),
		UserID:        r.Uint32(),
		Kind:          engine.CommandKind(r.Uint32()),
		Side:          engine.Side(r.Uint32()),
		Type:          engine.OrderType(r.Uint32()),
		TIF:           engine.TimeInForce(r.Uint32()),
		STP:           engine.STPMode(r.Uint32()),
		PostOnly:      r.IntN(2) == 1,
		Price:         int64(r.Uint64()),
		Qty:           int64(r.Uint64()),
	}
}

func randEvent(r *rand.Rand, seq uint64) engine.Event {
	return engine.Event{
		Seq:                seq,
		CmdSeq:             r.Uint64(),
		Time:               int64(r.Uint64()),
		OrderID:            r.Uint64(),
		ClientOrderID:      r.Uint64(),
		UserID:             r.Uint32(),
		Kind:               engine.EventKind(1 + r.IntN(6)),
		Side:               engine.Side(r.Uint32()),
		Reason:             uint8(r.Uint32()),
		Price:              int64(r.Uint64()),
		Qty:                int64(r.Uint64()),
		Remaining:          int64(r.Uint64()),
		MakerOrderID:       r.Uint64(),
		MakerClientOrderID: r.Uint64(),
		MakerUserID:        r.Uint32(),
		MakerRemaining:     int64(r.Uint64()),
	}
}

func TestCommandRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, commandLen)
	for i := range 10000 {
		want := randCommand(r, r.Uint64())
		asset := r.Uint32()
		encodeCommandV1(b, asset, &want)
		var got engine.Command
		a, err := decodeCommand(b, &got)
		if err != nil {
			t.Fatalf("%d: decode: %v", i, err)
		}
		if got != want || a != asset {
			t.Fatalf("%d: round trip\n got %+v asset %d\nwant %+v asset %d", i, got, a, want, asset)
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, eventLen)
	for i := range 10000 {
		want := randEvent(r, r.Uint64())
		asset := r.Uint32()
		encodeEventV1(b, asset, &want)
		var got engine.Event
		a, err := decodeEvent(b, &got)
		if err != nil {
			t.Fatalf("%d: decode: %v", i, err)
		}
		if got != want || a != asset {
			t.Fatalf("%d: round trip\n got %+v asset %d\nwant %+v asset %d", i, got, a, want, asset)
		}
	}
}

func TestSnapshotAndConfigRoundTrip(t *testing.T) {
	data := []byte("opaque book bytes")
	h, got, err := decodeSnapshot(encodeSnapshot(7, 100, 250, data))
	if err != nil || h != (snapshotHeader{7, 100, 250}) || !bytes.Equal(got, data) {
		t.Fatalf("snapshot round trip: %+v %q %v", h, got, err)
	}
	cfg := engine.AssetConfig{Symbol: "BTC-USD", TickSize: 5, LotSize: 10, MinPrice: 5, MaxPrice: 1e9, MaxQty: 1e6}
	b, err := encodeAssetConfig(3, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, gotCfg, err := decodeAssetConfig(b)
	if err != nil || a != 3 || gotCfg != cfg {
		t.Fatalf("config round trip: %d %+v %v", a, gotCfg, err)
	}
}

// TestDecodeRejectsDamage checks that every truncation and every single bit
// flip of a valid record is reported: nothing damaged decodes.
func TestDecodeRejectsDamage(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cmd := randCommand(r, 42)
	cb := make([]byte, commandLen)
	encodeCommandV1(cb, 1, &cmd)
	ev := randEvent(r, 42)
	eb := make([]byte, eventLen)
	encodeEventV1(eb, 1, &ev)
	snap := encodeSnapshot(1, 10, 20, []byte("some snapshot"))
	cfg, _ := encodeAssetConfig(1, &engine.AssetConfig{Symbol: "X", TickSize: 1, LotSize: 1})
	decoders := []struct {
		name   string
		rec    []byte
		decode func([]byte) error
	}{
		{"command", cb, func(b []byte) error { var c engine.Command; _, err := decodeCommand(b, &c); return err }},
		{"event", eb, func(b []byte) error { var e engine.Event; _, err := decodeEvent(b, &e); return err }},
		{"snapshot", snap, func(b []byte) error { _, _, err := decodeSnapshot(b); return err }},
		{"config", cfg, func(b []byte) error { _, _, err := decodeAssetConfig(b); return err }},
	}
	for _, d := range decoders {
		if err := d.decode(d.rec); err != nil {
			t.Fatalf("%s: valid record: %v", d.name, err)
		}
		for n := range len(d.rec) {
			if err := d.decode(d.rec[:n]); err == nil {
				t.Fatalf("%s: truncated to %d bytes: decoded without error", d.name, n)
			}
		}
		if err := d.decode(append(bytes.Clone(d.rec), 0)); err == nil {
			t.Fatalf("%s: one byte too long: decoded without error", d.name)
		}
		for bit := range len(d.rec) * 8 {
			b := bytes.Clone(d.rec)
			b[bit/8] ^= 1 << (bit % 8)
			if err := d.decode(b); err == nil {
				t.Fatalf("%s: bit %d flipped: decoded without error", d.name, bit)
			}
		}
	}
	var c engine.Command
	if _, err := decodeCommand(cb[:40], &c); !errors.Is(err, errTruncated) {
		t.Fatalf("truncated command: %v, want errTruncated", err)
	}
	b := bytes.Clone(cb)
	b[0] = 2
	if _, err := decodeCommand(b, &c); !errors.Is(err, errVersion) {
		t.Fatalf("version 2 command: %v, want errVersion", err)
	}
	b = bytes.Clone(cb)
	b[20] ^= 0xff
	if _, err := decodeCommand(b, &c); !errors.Is(err, errChecksum) {
		t.Fatalf("damaged command: %v, want errChecksum", err)
	}
	if _, err := decodeCommand(eb, &c); err == nil {
		t.Fatal("event record decoded as a command")
	}
}

// FuzzDecodeCommand checks that the decoder never panics and that whatever
// it accepts is exactly the canonical encoding of what it returned.
func FuzzDecodeCommand(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 4 {
		c := randCommand(r, uint64(i))
		b := make([]byte, commandLen)
		encodeCommandV1(b, uint32(i), &c)
		f.Add(b)
		f.Add(b[:commandLen/2])
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c engine.Command
		asset, err := decodeCommand(b, &c)
		if err != nil {
			return
		}
		again := make([]byte, commandLen)
		encodeCommandV1(again, asset, &c)
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted a non-canonical record\n in  %x\n out %x", b, again)
		}
	})
}

// FuzzDecodeEvent is FuzzDecodeCommand for events.
func FuzzDecodeEvent(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := range 4 {
		e := randEvent(r, uint64(i))
		b := make([]byte, eventLen)
		encodeEventV1(b, uint32(i), &e)
		f.Add(b)
		f.Add(b[:eventLen-1])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var e engine.Event
		asset, err := decodeEvent(b, &e)
		if err != nil {
			return
		}
		again := make([]byte, eventLen)
		encodeEventV1(again, asset, &e)
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted a non-canonical record\n in  %x\n out %x", b, again)
		}
	})
}
