package orderentry

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringex/ringex/netio"
	"github.com/ringex/ringex/netio/wire"
)

// gatewayMetrics are the order-entry instruments. With a nil Registerer they
// are created but not exported, so the hot path never checks for nil.
type gatewayMetrics struct {
	ordersIn   prometheus.Counter
	acks       prometheus.Counter
	rejectVec  *prometheus.CounterVec
	rejectBy   map[uint16]prometheus.Counter
	conn       netio.ConnMetrics // sessions, refused, failed logins
	cut        prometheus.Counter
	ackLatency *ackHistogram // latency.go
}

func newGatewayMetrics(reg prometheus.Registerer) *gatewayMetrics {
	m := &gatewayMetrics{
		ordersIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ringex_gateway_orders_total", Help: "Order-entry requests (new, cancel, replace) received from logged-in sessions.",
		}),
		acks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ringex_gateway_acks_total", Help: "Orders acknowledged after their journal commit.",
		}),
		rejectVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringex_gateway_rejects_total", Help: "Rejects sent by the gateway, by reason code.",
		}, []string{"reason"}),
		rejectBy: make(map[uint16]prometheus.Counter),
		conn:     netio.NewConnMetrics("gateway", "order-entry sessions", "sessions"),
		cut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ringex_gateway_unread_cut_total", Help: "Sessions logged out because they did not read their answers.",
		}),
		ackLatency: newAckHistogram("ringex_gateway_ack_latency_seconds",
			"From the gateway's receipt of an order to its ack being handed to the event loop."),
	}
	// Pre-create a counter per known reason so that counting a reject is a
	// map read, not a label lookup.
	for _, code := range wire.RejectReasons() {
		m.rejectBy[code] = m.rejectVec.WithLabelValues(strconv.Itoa(int(code)))
	}
	if reg != nil {
		reg.MustRegister(m.ordersIn, m.acks, m.rejectVec, m.cut, m.ackLatency)
		reg.MustRegister(m.conn.Collectors()...)
	}
	return m
}

func (m *gatewayMetrics) rejects(code uint16) {
	if c, ok := m.rejectBy[code]; ok {
		c.Inc()
		return
	}
	m.rejectVec.WithLabelValues(strconv.Itoa(int(code))).Inc()
}
