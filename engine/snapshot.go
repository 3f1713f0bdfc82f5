package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Snapshot format, version 1. All integers are little-endian.
//
//	magic        [4]byte "RXBK"
//	version      uint32 (1)
//	symbol       uint16 length, then the bytes
//	tick, lot, min price, max price, max qty   int64 each
//	last command sequence, last event sequence uint64 each
//	order count  uint64
//	orders       bids best level first, then asks best level first; within a
//	             level in time priority. Each: id uint64, client id uint64,
//	             user uint32, side uint8, stp uint8, flags uint8 (bit 0
//	             post-only), price int64, qty int64 (39 bytes)
//	checksum     uint32, CRC-32C of everything before it
//
// The encoding is canonical: two books that hold the same orders in the same
// priority with the same sequences encode to the same bytes, whatever their
// history, so snapshots can be compared byte for byte.
const (
	snapshotMagic   = "RXBK"
	snapshotVersion = 1
	snapOrderSize   = 39
)

// ErrBadSnapshot is wrapped by every error Restore returns for input that is
// not a valid snapshot (as opposed to a read error).
var ErrBadSnapshot = errors.New("engine: bad snapshot")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot writes the whole book (configuration, sequences and all resting
// orders in priority order) to w in a versioned binary format that Restore
// reads. Restoring it and continuing gives exactly the events this book
// would have given.
func (b *Book) Snapshot(w io.Writer) error {
	buf := b.snap[:0]
	buf = append(buf, snapshotMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, snapshotVersion)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(b.cfg.Symbol)))
	buf = append(buf, b.cfg.Symbol...)
	for _, v := range [...]int64{b.cfg.TickSize, b.cfg.LotSize, b.cfg.MinPrice, b.cfg.MaxPrice, b.cfg.MaxQty} {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
	}
	buf = binary.LittleEndian.AppendUint64(buf, b.cmdSeq)
	buf = binary.LittleEndian.AppendUint64(buf, b.eventSeq)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(b.ids.n))
	n := 0
	for _, l := range [...]*ladder{&b.ladders[Buy], &b.ladders[Sell]} {
		for i := len(l.lvls) - 1; i >= 0; i-- {
			for oi := b.levels[l.lvls[i]].head; oi != nilIndex; oi = b.orders[oi].next {
				o := &b.orders[oi]
				buf = binary.LittleEndian.AppendUint64(buf, o.id)
				buf = binary.LittleEndian.AppendUint64(buf, o.clientID)
				buf = binary.LittleEndian.AppendUint32(buf, o.user)
				var flags byte
				if o.postOnly {
					flags = 1
				}
				buf = append(buf, byte(o.side), byte(o.stp), flags)
				buf = binary.LittleEndian.AppendUint64(buf, uint64(o.price))
				buf = binary.LittleEndian.AppendUint64(buf, uint64(o.qty))
				n++
			}
		}
	}
	if n != b.ids.n {
		panic(fmt.Sprintf("engine: snapshot: %d orders linked in levels, %d indexed by id", n, b.ids.n))
	}
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	b.snap = buf
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("engine: snapshot %s: %w", b.cfg.Symbol, err)
	}
	return nil
}

// Restore reads a snapshot written by Snapshot and returns the book it
// describes. It checks the checksum and every invariant of the book (valid
// orders, unique ids, sorted and uncrossed levels); errors for invalid input
// wrap ErrBadSnapshot.
func Restore(r io.Reader) (*Book, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("engine: restore: %w", err)
	}
	b, err := decodeSnapshot(data, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	return b, nil
}

// snapReader decodes little-endian fields from a byte slice; the first
// short read sets bad and every later read returns zero.
type snapReader struct {
	data []byte
	bad  bool
}

func (d *snapReader) take(n int) []byte {
	if d.bad || len(d.data) < n {
		d.bad = true
		return make([]byte, n)
	}
	p := d.data[:n]
	d.data = d.data[n:]
	return p
}

func (d *snapReader) u8() uint8   { return d.take(1)[0] }
func (d *snapReader) u16() uint16 { return binary.LittleEndian.Uint16(d.take(2)) }
func (d *snapReader) u32() uint32 { return binary.LittleEndian.Uint32(d.take(4)) }
func (d *snapReader) u64() uint64 { return binary.LittleEndian.Uint64(d.take(8)) }
func (d *snapReader) i64() int64  { return int64(d.u64()) }

// decodeSnapshot decodes a snapshot into into, reusing its storage, or into
// a new book if into is nil.
func decodeSnapshot(data []byte, into *Book) (*Book, error) {
	if len(data) < len(snapshotMagic)+8 {
		return nil, fmt.Errorf("%d bytes is too short", len(data))
	}
	if string(data[:4]) != snapshotMagic {
		return nil, fmt.Errorf("magic %q, want %q", data[:4], snapshotMagic)
	}
	if v := binary.LittleEndian.Uint32(data[4:]); v != snapshotVersion {
		return nil, fmt.Errorf("version %d, want %d", v, snapshotVersion)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("checksum %08x, computed %08x", sum, got)
	}
	d := snapReader{data: body[8:]}
	var cfg AssetConfig
	cfg.Symbol = string(d.take(int(d.u16())))
	cfg.TickSize, cfg.LotSize, cfg.MinPrice, cfg.MaxPrice, cfg.MaxQty = d.i64(), d.i64(), d.i64(), d.i64(), d.i64()
	cmdSeq, eventSeq, count := d.u64(), d.u64(), d.u64()
	if d.bad {
		return nil, errors.New("truncated header")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if count != uint64(len(d.data))/snapOrderSize || uint64(len(d.data))%snapOrderSize != 0 {
		return nil, fmt.Errorf("%d orders announced, %d bytes of orders", count, len(d.data))
	}
	b := into
	if b == nil {
		b = newBook(cfg, int(count))
	} else {
		b.reset(cfg)
	}
	b.cmdSeq, b.eventSeq = cmdSeq, eventSeq
	// Levels arrive best first; the ladders keep the best last, so collect
	// them and reverse once at the end instead of inserting at the front.
	var lastLevel int32 = nilIndex
	for i := uint64(0); i < count; i++ {
		o := order{id: d.u64(), clientID: d.u64(), user: d.u32()}
		o.side, o.stp = Side(d.u8()), STPMode(d.u8())
		flags := d.u8()
		o.price, o.qty = d.i64(), d.i64()
		switch {
		case o.side != Buy && o.side != Sell:
			return nil, fmt.Errorf("order %d: side %d", o.id, o.side)
		case o.stp >= numSTPModes:
			return nil, fmt.Errorf("order %d: stp mode %d", o.id, o.stp)
		case flags > 1:
			return nil, fmt.Errorf("order %d: flags %#x", o.id, flags)
		case b.checkPrice(o.price) != 0:
			return nil, fmt.Errorf("order %d: price %d invalid for %s", o.id, o.price, cfg.Symbol)
		case b.checkQty(o.qty) != 0:
			return nil, fmt.Errorf("order %d: quantity %d invalid for %s", o.id, o.qty, cfg.Symbol)
		}
		if _, dup := b.ids.get(o.id, b.orders); dup {
			return nil, fmt.Errorf("order %d: duplicate id", o.id)
		}
		o.postOnly = flags == 1
		oi := b.allocOrder()
		b.orders[oi] = o
		if lastLevel == nilIndex || b.levels[lastLevel].side != o.side || b.levels[lastLevel].price != o.price {
			l := &b.ladders[o.side]
			key := sideKey(o.side, o.price)
			if lastLevel != nilIndex {
				last := &b.levels[lastLevel]
				if last.side == Sell && o.side == Buy {
					return nil, fmt.Errorf("order %d: bid after asks", o.id)
				}
				if n := len(l.keys); n > 0 && key >= l.keys[n-1] {
					return nil, fmt.Errorf("order %d: price %d out of priority order", o.id, o.price)
				}
			}
			if _, dup := b.prices.get(o.price, b.levels); dup {
				return nil, fmt.Errorf("order %d: price %d on both sides", o.id, o.price)
			}
			lastLevel = b.allocLevel(o.side, o.price)
			l.keys = append(l.keys, key)
			l.lvls = append(l.lvls, lastLevel)
			b.prices.put(lastLevel, b.levels)
		}
		b.pushBack(lastLevel, oi)
		b.ids.put(oi, b.orders)
	}
	for _, l := range [...]*ladder{&b.ladders[Buy], &b.ladders[Sell]} {
		for i, j := 0, len(l.keys)-1; i < j; i, j = i+1, j-1 {
			l.keys[i], l.keys[j] = l.keys[j], l.keys[i]
			l.lvls[i], l.lvls[j] = l.lvls[j], l.lvls[i]
		}
	}
	bid, _, okb := b.BestBid()
	ask, _, oka := b.BestAsk()
	if okb && oka && bid >= ask {
		return nil, fmt.Errorf("crossed book: bid %d >= ask %d", bid, ask)
	}
	return b, nil
}
