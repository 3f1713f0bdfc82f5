package netio

import "github.com/prometheus/client_golang/prometheus"

// ConnMetrics are a server's connection instruments, kept by the shared
// layer: Server.Accept, Refuse and Close move Open and Refused, and
// LoginRules counts LoginFails.
type ConnMetrics struct {
	Open       prometheus.Gauge   // connections open
	Refused    prometheus.Counter // connections refused: the limit, shutdown, no descriptor
	LoginFails prometheus.Counter // failed logins
	// ProxyErrors counts connections from a trusted proxy closed for a
	// malformed PROXY header or none in time (proxy.go).
	ProxyErrors prometheus.Counter
}

// NewConnMetrics makes the connection instruments of the server whose
// metrics are named ringex_<name>_...; what names its connections in the
// help texts ("order-entry sessions"). The gauge of open connections keeps
// each server's own name (open), which dashboards already use.
func NewConnMetrics(name, what, open string) ConnMetrics {
	return ConnMetrics{
		Open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ringex_" + name + "_" + open, Help: "Connected " + what + ".",
		}),
		Refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ringex_" + name + "_refused_connections_total", Help: "Connections refused (limit or shutdown), " + what + ".",
		}),
		LoginFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ringex_" + name + "_login_failures_total", Help: "Failed login attempts, " + what + ".",
		}),
		ProxyErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ringex_" + name + "_proxy_header_errors_total", Help: "Connections from a trusted proxy closed for a malformed or missing PROXY header, " + what + ".",
		}),
	}
}

// Collectors are the instruments, to register.
func (m ConnMetrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Open, m.Refused, m.LoginFails, m.ProxyErrors}
}
