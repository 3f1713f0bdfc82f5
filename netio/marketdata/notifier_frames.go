package marketdata

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/wire"
)

// OnTraffic decodes every complete request in the inbound buffer, in place,
// and writes the replies it produces with one write.
func (n *Notifier) OnTraffic(c gnet.Conn) gnet.Action {
	fc, ok := c.Context().(*feedConn)
	if !ok {
		return gnet.Close
	}
	action := n.srv.Traffic(c, &fc.Conn, func(frame []byte) gnet.Action { return n.handleFrame(fc, frame) })
	if action == gnet.None {
		n.sendReply(fc)
	}
	return action
}

// sendReply writes the replies gathered so far: through the outbox, after
// what a drain step has gathered for the connection, or behind its queued
// subscription changes if it has any (see notifier_loop.go). Loop only.
func (n *Notifier) sendReply(fc *feedConn) {
	if len(fc.Reply) == 0 {
		return
	}
	if fc.dirty && fc.ctlQueued == 0 {
		// What a drain step gathered goes first: a reply written straight
		// away must not overtake it.
		b, m := fc.loop.writeConn(fc, 0, 0)
		n.m.out(b, m)
	}
	switch {
	case fc.closed:
	case fc.ctlQueued > 0:
		b := n.getBatch()
		b.control = true
		b.addPriv(fc, fc.Reply, 1, 0)
		fc.loop.push(b)
	case fc.Write(fc.Reply):
		n.m.out(len(fc.Reply), 1)
	}
	fc.Reply = fc.Reply[:0]
}

func (n *Notifier) handleFrame(fc *feedConn, frame []byte) gnet.Action {
	switch wire.Type(frame) {
	case wire.TypeLogin:
		return n.logins.Login(&fc.Conn, frame)
	case wire.TypeSubscribe:
		var m wire.Subscribe
		if err := wire.DecodeSubscribe(frame, &m); err != nil {
			n.rejectDecode(fc, err)
			return gnet.None
		}
		n.subscribe(fc, &m)
	case wire.TypeUnsubscribe:
		var m wire.Unsubscribe
		if err := wire.DecodeUnsubscribe(frame, &m); err != nil {
			n.rejectDecode(fc, err)
			return gnet.None
		}
		n.unsubscribe(fc, &m)
	case wire.TypeResume:
		var m wire.Resume
		if err := wire.DecodeResume(frame, &m); err != nil {
			n.rejectDecode(fc, err)
			return gnet.None
		}
		n.resume(fc, &m)
	default: // Heartbeat, Logout, unknown types
		action, _ := fc.BaseFrame(frame)
		return action
	}
	return gnet.None
}

func (n *Notifier) rejectDecode(fc *feedConn, err error) {
	fc.Reply = wire.AppendReject(fc.Reply, 0, netio.DecodeReason(err))
}

// asset finds the asset a request names, answering SubRejected if none.
func (n *Notifier) asset(fc *feedConn, sym wire.Symbol) *feedAsset {
	fa := n.byKey[wire.MakeSymbol(sym.String())]
	if fa == nil {
		n.subRejected(fc, sym, wire.SubUnknownAsset)
	}
	return fa
}

func (n *Notifier) subRejected(fc *feedConn, sym wire.Symbol, reason uint16) {
	m := wire.SubRejected{Symbol: sym, Reason: reason}
	fc.Reply = wire.AppendSubRejected(fc.Reply, &m)
}

// publicMask turns the wire's channel bits into a public channel mask.
func publicMask(channels uint8) uint8 {
	var m uint8
	if channels&wire.ChanTrades != 0 {
		m |= 1 << chTrades
	}
	if channels&wire.ChanBook != 0 {
		m |= 1 << chBook
	}
	if channels&wire.ChanBBO != 0 {
		m |= 1 << chBBO
	}
	return m
}

// subscribe answers Subscribed, then the book snapshot and the current BBO
// if asked for, through the loop's inbox (changeSubscription), so that the
// snapshot is followed by exactly the updates after it. Subscribing to the
// book again sends a fresh snapshot (how a client recovers from a gap).
func (n *Notifier) subscribe(fc *feedConn, m *wire.Subscribe) {
	fa := n.asset(fc, m.Symbol)
	switch {
	case fa == nil:
		return
	case m.Channels == 0 || m.Channels&^wire.ChanAll != 0:
		n.subRejected(fc, m.Symbol, wire.SubBadChannels)
		return
	case m.Channels&wire.ChanOrders != 0 && fc.UserID == 0:
		n.subRejected(fc, m.Symbol, wire.SubNotLoggedIn)
		return
	}
	if m.Channels&wire.ChanOrders != 0 {
		fc.Out.Raise(int(n.cfg.MaxQueuedBytesPrivate))
	}
	ack := wire.Subscribed{Symbol: fa.key, Channels: m.Channels}
	n.changeSubscription(fc, fa, m.Channels, true, int(m.Depth), &ack)
}

// unsubscribe drops channels; like subscribe, the change reaches the loop's
// lists through its inbox, so nothing already applied is lost for the
// channels that remain. It is never answered (docs/protocol.md): an
// unknown asset or a channel not subscribed to changes nothing.
func (n *Notifier) unsubscribe(fc *feedConn, m *wire.Unsubscribe) {
	fa := n.byKey[wire.MakeSymbol(m.Symbol.String())]
	if fa == nil {
		return
	}
	n.changeSubscription(fc, fa, m.Channels, false, 0, nil)
}

// resume answers Subscribed (orders, from the client's sequence) and
// starts the journal read; ResumeDone follows the replayed events.
func (n *Notifier) resume(fc *feedConn, m *wire.Resume) {
	fa := n.asset(fc, m.Symbol)
	switch {
	case fa == nil:
		return
	case fc.UserID == 0:
		n.subRejected(fc, m.Symbol, wire.SubNotLoggedIn)
		return
	case n.cfg.Store == nil:
		n.subRejected(fc, m.Symbol, wire.SubUnavailable)
		return
	}
	fc.Out.Raise(int(n.cfg.MaxQueuedBytesPrivate))
	upto, ok := n.startResume(fc, fa)
	if !ok {
		n.log.Info("market data resume refused: one is already running", "user", fc.UserName, "asset", fa.symbol)
		n.subRejected(fc, m.Symbol, wire.SubUnavailable)
		return
	}
	// The answer goes out (or is queued on the loop) before the reader
	// starts, so it precedes the first replayed event.
	ack := wire.Subscribed{Symbol: fa.key, Channels: wire.ChanOrders, Seq: m.After}
	fc.Reply = wire.AppendSubscribed(fc.Reply, &ack)
	n.sendReply(fc)
	n.resumes.Add(1)
	go n.replay(fc, fa, m.After, upto)
}
