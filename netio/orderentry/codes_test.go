package orderentry

import (
	"testing"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio/wire"
)

// TestEngineCodesAreWire: the engine's reject reasons, cancel reasons and
// event kinds are sent on the wire by number (the notifier and the gateway
// cast them), so each engine code must equal the wire code of the same
// name, and neither side may have a code the other lacks.
func TestEngineCodesAreWire(t *testing.T) {
	rejects := []struct {
		name   string
		engine engine.RejectReason
		wire   uint16
	}{
		{"BadPrice", engine.RejectBadPrice, wire.ReasonBadPrice},
		{"OffTick", engine.RejectOffTick, wire.ReasonOffTick},
		{"BadQuantity", engine.RejectBadQuantity, wire.ReasonBadQuantity},
		{"OffLot", engine.RejectOffLot, wire.ReasonOffLot},
		{"UnknownOrder", engine.RejectUnknownOrder, wire.ReasonUnknownOrder},
		{"NotOwner", engine.RejectNotOwner, wire.ReasonNotOwner},
		{"FOKUnfillable", engine.RejectFOKUnfillable, wire.ReasonFOKUnfillable},
		{"PostOnlyTake", engine.RejectPostOnlyTake, wire.ReasonPostOnlyTake},
		{"DuplicateID", engine.RejectDuplicateID, wire.ReasonDuplicateID},
		{"BadCommand", engine.RejectBadCommand, wire.ReasonBadCommand},
	}
	engineRange := 0
	for _, r := range rejects {
		if uint16(r.engine) != r.wire {
			t.Errorf("reject %s: engine %d, wire %d", r.name, r.engine, r.wire)
		}
	}
	// The wire's engine range (below 100) is exactly the engine's codes.
	for _, code := range wire.RejectReasons() {
		if code < 100 {
			engineRange++
		}
	}
	if engineRange != len(rejects) {
		t.Errorf("the wire has %d reject codes below 100, the engine %d", engineRange, len(rejects))
	}

	cancels := []struct {
		name   string
		engine engine.CancelReason
		wire   uint8
	}{
		{"User", engine.CancelUser, wire.CancelUser},
		{"IOCRemainder", engine.CancelIOCRemainder, wire.CancelIOCRemainder},
		{"SelfTrade", engine.CancelSelfTrade, wire.CancelSelfTrade},
		{"MarketNoFill", engine.CancelMarketNoFill, wire.CancelMarketNoFill},
	}
	for _, c := range cancels {
		if uint8(c.engine) != c.wire {
			t.Errorf("cancel %s: engine %d, wire %d", c.name, c.engine, c.wire)
		}
	}
	if n := len(wire.CancelReasons()); n != len(cancels) {
		t.Errorf("the wire has %d cancel reasons, the engine %d", n, len(cancels))
	}

	kinds := []struct {
		name   string
		engine engine.EventKind
		wire   uint8
	}{
		{"Accepted", engine.EvAccepted, wire.OrderAccepted},
		{"Trade/Filled", engine.EvTrade, wire.OrderFilled},
		{"Canceled", engine.EvCanceled, wire.OrderCanceled},
		{"Replaced", engine.EvReplaced, wire.OrderReplaced},
		{"Rejected", engine.EvRejected, wire.OrderRejected},
		{"Done", engine.EvDone, wire.OrderDone},
		{"Reduced", engine.EvReduced, wire.OrderReduced},
	}
	for _, k := range kinds {
		if uint8(k.engine) != k.wire {
			t.Errorf("event kind %s: engine %d, wire %d", k.name, k.engine, k.wire)
		}
	}
	if n := len(wire.OrderKinds()); n != len(kinds) {
		t.Errorf("the wire has %d order event kinds, the engine %d", n, len(kinds))
	}
}

// TestGatewayCheckIsEngineCheck: the gateway refuses exactly what the
// engine's own rules refuse, with the same code (or the wire's finer code
// for an unknown enumeration).
func TestGatewayCheckIsEngineCheck(t *testing.T) {
	cfg := gwSpec.Config
	cases := []struct {
		cmd  engine.Command
		want uint16
	}{
		{engine.Command{Kind: engine.CmdNew, Side: engine.Buy, Type: engine.Limit, TIF: engine.GTC, Price: 100, Qty: 10}, 0},
		{engine.Command{Kind: engine.CmdNew, Side: 3, Type: engine.Limit, TIF: engine.GTC, Price: 100, Qty: 10}, wire.ReasonBadSide},
		{engine.Command{Kind: engine.CmdNew, Side: engine.Buy, Type: 9, TIF: engine.GTC, Price: 100, Qty: 10}, wire.ReasonBadType},
		{engine.Command{Kind: engine.CmdNew, Side: engine.Buy, Type: engine.Limit, TIF: 0, Price: 100, Qty: 10}, wire.ReasonBadTIF},
		{engine.Command{Kind: engine.CmdNew, Side: engine.Buy, Type: engine.Limit, TIF: engine.GTC, STP: 5, Price: 100, Qty: 10}, wire.ReasonBadSTP},
		{engine.Command{Kind: engine.CmdNew, Side: engine.Buy, Type: engine.Limit, TIF: engine.GTC, Price: 101, Qty: 10}, wire.ReasonOffTick},
		{engine.Command{Kind: engine.CmdNew, Side: engine.Buy, Type: engine.Limit, TIF: engine.GTC, Price: 0, Qty: 10}, wire.ReasonBadPrice},
		{engine.Command{Kind: engine.CmdNew, Side: engine.Buy, Type: engine.Market, TIF: engine.IOC, Qty: 10}, 0},
		{engine.Command{Kind: engine.CmdNew, Side: engine.Buy, Type: engine.Limit, TIF: engine.GTC, Price: 100, Qty: 15}, wire.ReasonOffLot},
		{engine.Command{Kind: engine.CmdNew, Side: engine.Buy, Type: engine.Limit, TIF: engine.GTC, Price: 100, Qty: 0}, wire.ReasonBadQuantity},
		{engine.Command{Kind: engine.CmdReplace, Price: 0, Qty: 20}, 0},
		{engine.Command{Kind: engine.CmdReplace, Price: 7, Qty: 20}, wire.ReasonOffTick},
		{engine.Command{Kind: engine.CmdReplace, Price: 100, Qty: 2_000_000}, wire.ReasonBadQuantity},
		{engine.Command{Kind: engine.CmdCancel}, 0},
	}
	for i, c := range cases {
		if got := checkReason(&cfg, &c.cmd); got != c.want {
			t.Errorf("case %d %+v: reason %d, want %d", i, c.cmd, got, c.want)
		}
		// The engine's own verdict agrees, modulo the finer wire codes.
		r := cfg.Check(&c.cmd)
		if c.want >= 101 && c.want <= 104 {
			if r != engine.RejectBadCommand {
				t.Errorf("case %d: engine says %d, want BadCommand", i, r)
			}
		} else if uint16(r) != c.want {
			t.Errorf("case %d: engine says %d, want %d", i, r, c.want)
		}
	}
}
