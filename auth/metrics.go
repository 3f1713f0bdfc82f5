package auth

import "github.com/prometheus/client_golang/prometheus"

// metrics are the audit counters. With a nil Registerer they are created
// but not exported.
type metrics struct {
	logins          *prometheus.CounterVec // by service
	failures        *prometheus.CounterVec // by service
	throttled       *prometheus.CounterVec // attempts refused unchecked, by address or user
	blocks          *prometheus.CounterVec // blocks started, by address or user
	sessionsRefused prometheus.Counter
	revoked         prometheus.Counter
	reloads         *prometheus.CounterVec // by result
	keyChanges      *prometheus.CounterVec // by change
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringex_auth_logins_total", Help: "Successful logins, by service.",
		}, []string{"service"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringex_auth_login_failures_total", Help: "Logins refused for a bad user name or key, by service.",
		}, []string{"service"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringex_auth_login_throttled_total", Help: "Logins refused without checking the key because the address or the user name is blocked.",
		}, []string{"by"}),
		blocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringex_auth_login_blocks_total", Help: "Back-off blocks started after repeated failed logins, by address or user name.",
		}, []string{"by"}),
		sessionsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ringex_auth_sessions_refused_total", Help: "Logins refused because the user held its maximum of order-entry sessions.",
		}),
		revoked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ringex_auth_revoked_sessions_total", Help: "Live sessions logged out because a reload revoked their key or user.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringex_auth_reloads_total", Help: "Users file reloads, by result.",
		}, []string{"result"}),
		keyChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringex_auth_key_changes_total", Help: "Users and keys added or removed by reloads.",
		}, []string{"change"}),
	}
	if reg != nil {
		reg.MustRegister(m.logins, m.failures, m.throttled, m.blocks, m.sessionsRefused, m.revoked, m.reloads, m.keyChanges)
	}
	return m
}
