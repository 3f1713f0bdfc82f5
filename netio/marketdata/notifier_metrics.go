package marketdata

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringex/ringex/netio"
)

// notifierMetrics are the market-data instruments. With a nil Registerer
// they are created but not exported, so the hot path never checks for nil.
type notifierMetrics struct {
	subsVec    *prometheus.GaugeVec
	subs       [numChannels]prometheus.Gauge
	conn       netio.ConnMetrics // connections, refused, failed logins
	messages   prometheus.Counter
	bytes      prometheus.Counter
	slow       prometheus.Counter
	resumed    prometheus.Counter
	fanout     prometheus.Histogram
	eventToOut prometheus.Histogram
}

func newNotifierMetrics(reg prometheus.Registerer) *notifierMetrics {
	m := &notifierMetrics{
		subsVec: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ringex_notifier_subscribers", Help: "Market-data subscriptions, by channel (an asset and channel pair counts once).",
		}, []string{"channel"}),
		conn: netio.NewConnMetrics("notifier", "market-data clients", "connections"),
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ringex_notifier_messages_total", Help: "Messages written to market-data connections, counted once per receiving connection.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ringex_notifier_bytes_total", Help: "Bytes written to market-data connections, counted once per receiving connection.",
		}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ringex_notifier_slow_consumer_disconnects_total", Help: "Subscribers disconnected because their outbound queue passed the limit.",
		}),
		resumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ringex_notifier_resumed_events_total", Help: "Private events replayed from the event journal to resuming clients.",
		}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ringex_notifier_fanout_seconds",
			Help:    "From the notifier's receipt of an output batch to its write by the event loop (once per batch and event loop).",
			Buckets: prometheus.ExponentialBuckets(5e-6, 2, 18),
		}),
		eventToOut: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ringex_notifier_event_to_write_seconds",
			Help:    "From the gateway's receipt of the causing command (event time) to the event loop's write (once per batch and event loop).",
			Buckets: prometheus.ExponentialBuckets(5e-6, 2, 18),
		}),
	}
	for ch := range numChannels {
		m.subs[ch] = m.subsVec.WithLabelValues(channelName(channel(ch)))
	}
	if reg != nil {
		reg.MustRegister(m.subsVec, m.messages, m.bytes, m.slow, m.resumed, m.fanout, m.eventToOut)
		reg.MustRegister(m.conn.Collectors()...)
	}
	return m
}

// out counts bytes and messages handed to the loops.
func (m *notifierMetrics) out(bytes, msgs int) {
	if bytes > 0 {
		m.bytes.Add(float64(bytes))
		m.messages.Add(float64(msgs))
	}
}

// observe records the latencies of one sampled write done at now.
func (m *notifierMetrics) observe(now, recv, evTime int64) {
	if recv > 0 {
		m.fanout.Observe(float64(now-recv) / 1e9)
	}
	if evTime > 0 {
		m.eventToOut.Observe(float64(now-evTime) / 1e9)
	}
}
