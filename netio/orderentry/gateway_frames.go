package orderentry

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/ringex/ringex/engine"
	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/wire"
	"github.com/ringex/ringex/pipeline"
)

// handleFrame handles one complete frame. Everything it answers goes into
// s.Reply; orders go into their asset's ring.
func (g *Gateway) handleFrame(s *session, frame []byte) gnet.Action {
	typ := wire.Type(frame)
	if s.UserID == 0 && typ != wire.TypeLogin && typ != wire.TypeHeartbeat && typ != wire.TypeLogout {
		g.reject(s, 0, wire.ReasonNotLoggedIn)
		return gnet.None
	}
	switch typ {
	case wire.TypeLogin:
		return g.logins.Login(&s.Conn, frame)
	case wire.TypeNewOrder:
		var m wire.NewOrder
		if err := wire.DecodeNewOrder(frame, &m); err != nil {
			g.rejectDecode(s, m.ClientOrderID, err) // 0 unless only a field was bad
			return gnet.None
		}
		g.newOrder(s, &m)
	case wire.TypeCancel:
		var m wire.Cancel
		if err := wire.DecodeCancel(frame, &m); err != nil {
			g.rejectDecode(s, m.ClientOrderID, err) // 0 unless only a field was bad
			return gnet.None
		}
		g.cancel(s, &m)
	case wire.TypeReplace:
		var m wire.Replace
		if err := wire.DecodeReplace(frame, &m); err != nil {
			g.rejectDecode(s, m.ClientOrderID, err) // 0 unless only a field was bad
			return gnet.None
		}
		g.replace(s, &m)
	default: // Heartbeat, Logout, unknown types
		action, code := s.BaseFrame(frame)
		if code != 0 {
			g.m.rejects(code)
		}
		return action
	}
	return gnet.None
}

func (g *Gateway) rejectDecode(s *session, clientID uint64, err error) {
	g.reject(s, clientID, netio.DecodeReason(err))
}

// admit runs the checks every order-entry request shares: shutdown, the
// in-flight limit and the asset. It returns the asset or nil after
// answering with a reject.
func (g *Gateway) admit(s *session, clientID uint64, symbol [8]byte) *pipeline.Asset {
	g.m.ordersIn.Inc()
	var code uint16
	a := g.assets[symbol]
	switch {
	case g.srv.Draining.Load():
		code = wire.ReasonShuttingDown
	case a == nil:
		code = wire.ReasonUnknownAsset
	case int(s.inFlight.Load()) >= g.cfg.MaxInFlight:
		code = wire.ReasonTooManyInFlight
	case !s.Grant.Allow(): // the user's token bucket (auth/limiter.go)
		code = wire.ReasonRateLimited
	}
	if code != 0 {
		g.reject(s, clientID, code)
		return nil
	}
	return a
}

// submit publishes a validated command. The in-flight count goes up before
// the publish so that the ack (which may come first) never takes it below 0.
func (g *Gateway) submit(s *session, a *pipeline.Asset, cmd *engine.Command) {
	cmd.UserID = s.UserID
	cmd.Time = s.readAt
	s.inFlight.Add(1)
	if _, err := a.Submit(cmd, s.token, g.cfg.BusyTimeout); err != nil {
		s.inFlight.Add(-1)
		g.reject(s, cmd.ClientOrderID, assetErrReason(err))
	}
}

// reject answers clientID with code and counts it.
func (g *Gateway) reject(s *session, clientID uint64, code uint16) {
	s.Reply = wire.AppendReject(s.Reply, clientID, code)
	g.m.rejects(code)
}

func (g *Gateway) newOrder(s *session, m *wire.NewOrder) {
	a := g.admit(s, m.ClientOrderID, [8]byte(m.Symbol))
	if a == nil {
		return
	}
	cmd := engine.Command{
		Kind:          engine.CmdNew,
		ClientOrderID: m.ClientOrderID,
		Side:          engine.Side(m.Side),
		Type:          engine.OrderType(m.Type),
		TIF:           engine.TimeInForce(m.TIF),
		STP:           engine.STPMode(m.STP),
		PostOnly:      m.PostOnly,
		Price:         m.Price,
		Qty:           m.Qty,
	}
	if code := checkReason(&a.Config, &cmd); code != 0 {
		g.reject(s, m.ClientOrderID, code)
		return
	}
	if cmd.Type == engine.Market {
		cmd.Price = 0
	}
	g.submit(s, a, &cmd)
}

func (g *Gateway) cancel(s *session, m *wire.Cancel) {
	a := g.admit(s, m.ClientOrderID, [8]byte(m.Symbol))
	if a == nil {
		return
	}
	cmd := engine.Command{Kind: engine.CmdCancel, ClientOrderID: m.ClientOrderID, OrderID: m.OrderID}
	g.submit(s, a, &cmd)
}

func (g *Gateway) replace(s *session, m *wire.Replace) {
	a := g.admit(s, m.ClientOrderID, [8]byte(m.Symbol))
	if a == nil {
		return
	}
	cmd := engine.Command{Kind: engine.CmdReplace, ClientOrderID: m.ClientOrderID, OrderID: m.OrderID,
		Price: m.Price, Qty: m.Qty}
	if code := checkReason(&a.Config, &cmd); code != 0 {
		g.reject(s, m.ClientOrderID, code)
		return
	}
	g.submit(s, a, &cmd)
}
