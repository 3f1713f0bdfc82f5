package pipeline

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringex/ringex/journal"
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

// RegisterJournal registers the journal store's Pebble counters with reg
// (journal.Stats, read at each scrape): what the journal costs beyond its
// WAL, and its write amplification.
func RegisterJournal(reg prometheus.Registerer, s *journal.Store) {
	reg.MustRegister(journalCollector{s})
}

var (
	journalLoggedDesc = prometheus.NewDesc("ringex_journal_logged_bytes_total",
		"Bytes of batches written to the journal's WAL since start.", nil, nil)
	journalFlushedDesc = prometheus.NewDesc("ringex_journal_flushed_bytes_total",
		"Bytes of sstables written by the journal's memtable flushes since start.", nil, nil)
	journalCompactedDesc = prometheus.NewDesc("ringex_journal_compacted_bytes_total",
		"Bytes of sstables rewritten by the journal's compactions since start.", nil, nil)
	journalMovedDesc = prometheus.NewDesc("ringex_journal_moved_bytes_total",
		"Bytes of sstables moved to a lower level without rewriting since start.", nil, nil)
	journalWriteAmpDesc = prometheus.NewDesc("ringex_journal_write_amplification",
		"Sstable bytes written by flushes and compactions per byte logged to the WAL, since start.", nil, nil)
	journalL0Desc = prometheus.NewDesc("ringex_journal_l0_sublevels",
		"Overlapping sublevels in the journal's level 0 (what makes compactions rewrite).", nil, nil)
)

type journalCollector struct{ s *journal.Store }

func (c journalCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{journalLoggedDesc, journalFlushedDesc, journalCompactedDesc,
		journalMovedDesc, journalWriteAmpDesc, journalL0Desc} {
		ch <- d
	}
}

func (c journalCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.s.Stats()
	if err != nil {
		return // closed: shutting down
	}
	ch <- prometheus.MustNewConstMetric(journalLoggedDesc, prometheus.CounterValue, float64(st.LoggedBytes))
	ch <- prometheus.MustNewConstMetric(journalFlushedDesc, prometheus.CounterValue, float64(st.FlushedBytes))
	ch <- prometheus.MustNewConstMetric(journalCompactedDesc, prometheus.CounterValue, float64(st.CompactedBytes))
	ch <- prometheus.MustNewConstMetric(journalMovedDesc, prometheus.CounterValue, float64(st.MovedBytes))
	ch <- prometheus.MustNewConstMetric(journalWriteAmpDesc, prometheus.GaugeValue, st.WriteAmp())
	ch <- prometheus.MustNewConstMetric(journalL0Desc, prometheus.GaugeValue, float64(st.L0Sublevels))
}
