//go:build !race

package wire

import (
	"math/rand"
	"testing"
)

// TestZeroAllocs fails if any encoder or decoder allocates once its buffers
// have grown. (The race detector's instrumentation allocates, hence the
// build tag.)
func TestZeroAllocs(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	buf := make([]byte, 0, 1<<17)
	for _, c := range codecs {
		frame, _ := c.sample(r)
		decodeOnly(frame) // grows the snapshot's level slices
		if n := testing.AllocsPerRun(100, func() { decodeOnly(frame) }); n != 0 {
			t.Errorf("decode %s: %v allocs", c.name, n)
		}
	}
	enc := map[string]func(){
		"Login":         func() { buf = AppendLogin(buf[:0], &scratch.login) },
		"NewOrder":      func() { buf = AppendNewOrder(buf[:0], &benchOrder) },
		"Cancel":        func() { buf = AppendCancel(buf[:0], &scratch.cx) },
		"Replace":       func() { buf = AppendReplace(buf[:0], &scratch.rp) },
		"Heartbeat":     func() { buf = AppendHeartbeat(buf[:0]) },
		"Logout":        func() { buf = AppendLogout(buf[:0], LogoutIdle) },
		"LoginAccepted": func() { buf = AppendLoginAccepted(buf[:0], &scratch.la) },
		"LoginRejected": func() { buf = AppendLoginRejected(buf[:0], LoginBadVersion) },
		"OrderAck":      func() { buf = AppendOrderAck(buf[:0], &scratch.ack) },
		"Reject":        func() { buf = AppendReject(buf[:0], 1, ReasonBusy) },
		"RejectMessage": func() { buf = AppendRejectMessage(buf[:0], &scratch.rej) },
		"Subscribe":     func() { buf = AppendSubscribe(buf[:0], &scratch.sub) },
		"Unsubscribe":   func() { buf = AppendUnsubscribe(buf[:0], &scratch.unsub) },
		"Resume":        func() { buf = AppendResume(buf[:0], &scratch.res) },
		"Subscribed":    func() { buf = AppendSubscribed(buf[:0], &scratch.subd) },
		"SubRejected":   func() { buf = AppendSubRejected(buf[:0], &scratch.subr) },
		"Trade":         func() { buf = AppendTrade(buf[:0], &benchTrade) },
		"BookUpdate":    func() { buf = AppendBookUpdate(buf[:0], &scratch.upd) },
		"BBO":           func() { buf = AppendBBO(buf[:0], &scratch.bbo) },
		"OrderEvent":    func() { buf = AppendOrderEvent(buf[:0], &benchEvent) },
		"ResumeDone":    func() { buf = AppendResumeDone(buf[:0], &scratch.done) },
		"BookSnapshot": func() {
			buf = AppendBookSnapshot(buf[:0], scratch.snap.Symbol, 1, scratch.snap.Bids, scratch.snap.Asks)
		},
		"MakeSymbol": func() { scratch.trade.Symbol = MakeSymbol("ETH-USD") },
		"Symbol.Bytes": func() {
			if len(scratch.trade.Symbol.Bytes()) == 0 {
				t.Error("empty")
			}
		},
		"ReasonText": func() { scratch.rej.Text[0] = ReasonText(ReasonBusy)[0] },
	}
	for name, fn := range enc {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}
