package netio

import (
	"context"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/netio/wire"
)

// OnTraffic decodes every complete request in the inbound buffer, in place,
// and writes the replies it produces with one write.
func (n *Notifier) OnTraffic(c gnet.Conn) gnet.Action {
	fc, ok := c.Context().(*feedConn)
	if !ok {
		return gnet.Close
	}
	fc.touch()
	fc.loop.enter()
	defer fc.loop.leave()
	buf, _ := c.Peek(-1)
	off := 0
	action := gnet.None
	for off < len(buf) && action == gnet.None {
		frame, k, err := wire.NextFrame(buf[off:], wire.MaxInboundFrame)
		if err != nil {
			// The length prefix cannot be valid: the stream is lost.
			n.log.Warn("market data: bad frame length: closing", "remote", fc.remote, "user", fc.userName, "err", err)
			fc.reply = wire.AppendLogout(fc.reply, wire.LogoutBadFrame)
			fc.closing.Store(true)
			off, action = len(buf), gnet.Close
			break
		}
		if k == 0 {
			break // partial frame: wait for the rest
		}
		off += k
		action = n.handleFrame(fc, frame)
	}
	if action != gnet.None {
		off = len(buf)
	}
	c.Discard(off)
	n.sendReply(fc)
	return action
}

// sendReply writes the replies gathered so far. Loop only.
func (n *Notifier) sendReply(fc *feedConn) {
	if len(fc.reply) == 0 {
		return
	}
	if !fc.closed {
		fc.c.Write(fc.reply)
		fc.lastSent.Store(time.Now().UnixNano())
		n.m.out(len(fc.reply), 1)
	}
	fc.reply = fc.reply[:0]
}

func (n *Notifier) handleFrame(fc *feedConn, frame []byte) gnet.Action {
	switch wire.Type(frame) {
	case wire.TypeLogin:
		return n.login(fc, frame)
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
	case wire.TypeHeartbeat:
		// touch() already recorded it; a body makes it a bad message.
		if err := wire.DecodeHeartbeat(frame); err != nil {
			n.rejectDecode(fc, err)
		}
	case wire.TypeLogout:
		if _, err := wire.DecodeLogout(frame); err != nil {
			n.rejectDecode(fc, err) // not a Logout: the connection goes on
			return gnet.None
		}
		fc.reply = wire.AppendLogout(fc.reply, wire.LogoutUserRequest)
		fc.outcome.set(wire.LogoutUserRequest)
		fc.closing.Store(true)
		return gnet.Close
	default:
		fc.reply = wire.AppendReject(fc.reply, 0, wire.ReasonUnknownType)
	}
	return gnet.None
}

func (n *Notifier) rejectDecode(fc *feedConn, err error) {
	code := wire.ReasonMalformed
	if err == wire.ErrBadLength {
		code = wire.ReasonBadLength
	}
	fc.reply = wire.AppendReject(fc.reply, 0, code)
}

// login authenticates against the same users as order entry. A logged-in
// connection may subscribe to its own order events.
func (n *Notifier) login(fc *feedConn, frame []byte) gnet.Action {
	var m wire.Login
	if err := wire.DecodeLogin(frame, &m); err != nil {
		n.rejectDecode(fc, err)
		return gnet.None
	}
	if fc.userID != 0 {
		fc.reply = wire.AppendLoginRejected(fc.reply, wire.LoginAlready)
		return gnet.None
	}
	name := m.UserName()
	if m.Version != wire.Version {
		fc.reply = wire.AppendLoginRejected(fc.reply, wire.LoginBadVersion)
		n.log.Info("market data login refused: protocol version", "remote", fc.remote, "user", name, "version", m.Version)
		return gnet.None
	}
	return n.authenticate(fc, name, m.KeyBytes()) // auth.go: throttle, key, audit
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
	fc.reply = wire.AppendSubRejected(fc.reply, &m)
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
// if asked for. Under the asset's lock it first drains the loop's inbox,
// so that every batch already applied to the depth picture has gone out
// under the old subscription and the next one is the first after the
// snapshot. Subscribing to the book again sends a fresh snapshot (how a
// client recovers from a gap).
func (n *Notifier) subscribe(fc *feedConn, m *wire.Subscribe) {
	fa := n.asset(fc, m.Symbol)
	switch {
	case fa == nil:
		return
	case m.Channels == 0 || m.Channels&^wire.ChanAll != 0:
		n.subRejected(fc, m.Symbol, wire.SubBadChannels)
		return
	case m.Channels&wire.ChanOrders != 0 && fc.userID == 0:
		n.subRejected(fc, m.Symbol, wire.SubNotLoggedIn)
		return
	}
	n.sendReply(fc) // earlier replies go before the drain's writes
	fa.mu.Lock()
	defer fa.mu.Unlock()
	fc.loop.Run(context.Background())
	n.setPublic(fa, fc, fc.assets[fa.idx].mask|publicMask(m.Channels))
	if m.Channels&wire.ChanOrders != 0 {
		n.subscribeOrders(fa, fc)
	}
	ack := wire.Subscribed{Symbol: fa.key, Channels: n.channelsInForce(fa, fc), Seq: fa.lastSeq}
	fc.reply = wire.AppendSubscribed(fc.reply, &ack)
	if m.Channels&wire.ChanBook != 0 {
		fc.reply = appendFeedSnapshot(fc.reply, fa, int(m.Depth))
	}
	if m.Channels&wire.ChanBBO != 0 {
		fc.reply = appendFeedBBO(fc.reply, fa, fa.lastBid, fa.lastAsk, fa.lastSeq)
	}
	// Written before the lock is released: no batch can come between.
	n.sendReply(fc)
}

// channelsInForce returns the wire channel bits fc is subscribed to on
// fa: what Subscribed reports, since subscriptions add up. The caller holds
// fa.mu.
func (n *Notifier) channelsInForce(fa *feedAsset, fc *feedConn) uint8 {
	ca := &fc.assets[fa.idx]
	var ch uint8
	for _, c := range [...]struct {
		pub  channel
		wire uint8
	}{{chTrades, wire.ChanTrades}, {chBook, wire.ChanBook}, {chBBO, wire.ChanBBO}} {
		if ca.mask&(1<<c.pub) != 0 {
			ch |= c.wire
		}
	}
	if ca.priv {
		ch |= wire.ChanOrders
	}
	return ch
}

// unsubscribe drops channels; like subscribe, it drains the loop first, so
// that nothing already applied is lost for the channels that remain. It is
// never answered (docs/protocol.md): an unknown asset or a channel not
// subscribed to changes nothing.
func (n *Notifier) unsubscribe(fc *feedConn, m *wire.Unsubscribe) {
	fa := n.byKey[wire.MakeSymbol(m.Symbol.String())]
	if fa == nil {
		return
	}
	n.sendReply(fc)
	fa.mu.Lock()
	defer fa.mu.Unlock()
	fc.loop.Run(context.Background())
	n.setPublic(fa, fc, fc.assets[fa.idx].mask&^publicMask(m.Channels))
	if m.Channels&wire.ChanOrders != 0 {
		n.unsubscribeOrders(fa, fc)
	}
}

// resume answers Subscribed (orders, from the client's sequence) and
// starts the journal read; ResumeDone follows the replayed events.
func (n *Notifier) resume(fc *feedConn, m *wire.Resume) {
	fa := n.asset(fc, m.Symbol)
	switch {
	case fa == nil:
		return
	case fc.userID == 0:
		n.subRejected(fc, m.Symbol, wire.SubNotLoggedIn)
		return
	case n.cfg.Store == nil:
		n.subRejected(fc, m.Symbol, wire.SubUnavailable)
		return
	}
	if !n.startResume(fc, fa, m.After) {
		n.log.Info("market data resume refused: one is already running", "user", fc.userName, "asset", fa.symbol)
		n.subRejected(fc, m.Symbol, wire.SubUnavailable)
		return
	}
	// The reader's first events reach this loop as a task, which runs
	// after this read is handled: the answer goes first.
	ack := wire.Subscribed{Symbol: fa.key, Channels: wire.ChanOrders, Seq: m.After}
	fc.reply = wire.AppendSubscribed(fc.reply, &ack)
}
