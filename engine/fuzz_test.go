package engine

import (
	"bytes"
	"testing"
)

// fuzzCfg is small so that short inputs reach every path: 40 ticks, and
// quantities of a few lots.
var fuzzCfg = AssetConfig{Symbol: "FUZZ", TickSize: 5, LotSize: 10, MinPrice: 5, MaxPrice: 200, MaxQty: 80}

const fuzzCmdSize = 6

// decodeFuzzCommands turns each 6 bytes of data into a command. Fields are
// mostly valid and sometimes not: prices run a little outside the band and
// off the tick, quantities off the lot and past the maximum, and ids name
// live, dead and unknown orders.
func decodeFuzzCommands(data []byte) []Command {
	var cmds []Command
	next := uint64(1)
	for i := 0; i+fuzzCmdSize <= len(data); i += fuzzCmdSize {
		p := data[i : i+fuzzCmdSize]
		c := Command{Seq: uint64(len(cmds) + 1), Time: int64(i), UserID: uint32(1 + p[4]%3), ClientOrderID: uint64(p[4])}
		price := int64(p[2]%44)*5 - 10 // -10 .. 205
		if p[2] >= 242 {
			price += 3 // off tick
		}
		qty := int64(p[3]%10)*10 - 10 // -10 .. 80
		if p[3] >= 250 {
			qty += 5 // off lot
		}
		switch k := p[0] % 16; {
		case k < 8:
			c.Kind = CmdNew
			c.OrderID = next
			if p[5] >= 240 {
				c.OrderID = uint64(p[5] % 8) // maybe a duplicate
			} else {
				next++
			}
			c.Side = Side(1 + p[1]&1)
			c.Type = Limit
			if p[1]&2 != 0 && p[1]&4 != 0 {
				c.Type = Market
			}
			c.TIF = TimeInForce(1 + (p[1]>>3)%3)
			c.STP = STPMode((p[1] >> 5) % 5)
			c.PostOnly = p[0]&16 != 0
			if p[0] >= 250 {
				c.Side = Side(p[1]) // maybe invalid
			}
		case k < 11:
			c.Kind = CmdCancel
			c.OrderID = uint64(p[5]) % (next + 2)
		case k < 15:
			c.Kind = CmdReplace
			c.OrderID = uint64(p[5]) % (next + 2)
			if p[1]&1 != 0 {
				price = 0 // keep the price
			}
		default:
			c.Kind = CommandKind(p[1])
		}
		c.Price, c.Qty = price, qty
		cmds = append(cmds, c)
	}
	return cmds
}

// FuzzBook runs command sequences decoded from the input through Book and
// the reference, with every check of TestRandomAgainstReference after each
// command, and a snapshot round trip in the middle.
func FuzzBook(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 20, 3, 0, 0, 0, 1, 20, 3, 1, 0})
	f.Add([]byte{
		0, 0, 20, 5, 0, 0, // buy 30@90
		0, 0, 21, 5, 1, 0, // buy 30@95
		1, 1, 19, 9, 2, 0, // sell 70@85, sweeps
		0, 33, 22, 2, 1, 0, // buy, STP cancel-newest
		8, 0, 0, 0, 0, 1, // cancel
		11, 0, 25, 4, 1, 2, // replace
		1, 7, 0, 6, 2, 0, // market sell
		0, 8, 30, 3, 0, 0, // IOC buy
		17, 16, 10, 3, 0, 0, // post-only FOK
		15, 99, 0, 0, 0, 0, // bad kind
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		cmds := decodeFuzzCommands(data)
		k := newChecker(t, fuzzCfg)
		for i, c := range cmds {
			if i == len(cmds)/2 {
				k.roundTrip()
			}
			k.step(c)
		}
		var a bytes.Buffer
		if err := k.book.Snapshot(&a); err != nil {
			t.Fatal(err)
		}
		if _, err := Restore(&a); err != nil {
			t.Fatal(err)
		}
	})
}
