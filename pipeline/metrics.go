package pipeline

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the pipeline's Prometheus instruments, labelled by asset.
// Stages observe them once per batch, never per command.
type Metrics struct {
	journalBatch  *prometheus.HistogramVec
	journalCommit *prometheus.HistogramVec
	matchBatch    *prometheus.HistogramVec
	commands      *prometheus.CounterVec
	busyRejects   *prometheus.CounterVec
}

// NewMetrics registers the pipeline's instruments with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		journalBatch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ringex_journal_batch_commands", Help: "Commands per journal group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}, []string{"asset"}),
		journalCommit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ringex_journal_commit_seconds", Help: "Latency of one journal group commit, including sync.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 2, 14),
		}, []string{"asset"}),
		matchBatch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ringex_matcher_batch_seconds", Help: "Time the matcher spent on one batch of commands.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 2, 16),
		}, []string{"asset"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringex_matcher_commands_total", Help: "Commands applied by the matcher.",
		}, []string{"asset"}),
		busyRejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ringex_ring_full_total", Help: "Submissions refused because the input ring stayed full.",
		}, []string{"asset"}),
	}
	reg.MustRegister(m.journalBatch, m.journalCommit, m.matchBatch, m.commands, m.busyRejects)
	return m
}

type assetMetrics struct {
	batchSize, commitTime, matchTime prometheus.Observer
	commands, busyRejects            prometheus.Counter
}

func (m *Metrics) forAsset(symbol string) *assetMetrics {
	if m == nil {
		return nil
	}
	return &assetMetrics{
		batchSize:   m.journalBatch.WithLabelValues(symbol),
		commitTime:  m.journalCommit.WithLabelValues(symbol),
		matchTime:   m.matchBatch.WithLabelValues(symbol),
		commands:    m.commands.WithLabelValues(symbol),
		busyRejects: m.busyRejects.WithLabelValues(symbol),
	}
}

func (m *assetMetrics) journalBatch(n int, took time.Duration) {
	if m != nil {
		m.batchSize.Observe(float64(n))
		m.commitTime.Observe(took.Seconds())
	}
}

func (m *assetMetrics) matched(n int, took time.Duration) {
	if m != nil {
		m.commands.Add(float64(n))
		m.matchTime.Observe(took.Seconds())
	}
}

func (m *assetMetrics) busy() {
	if m != nil {
		m.busyRejects.Inc()
	}
}
