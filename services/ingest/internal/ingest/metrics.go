package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtt-dev/rtt/pkg/promx"
)

type metrics struct {
	beacons    *prometheus.CounterVec // accepted, by cluster
	duplicates prometheus.Counter
	rejected   *prometheus.CounterVec // by reason
	publish    prometheus.Histogram
	requests   *prometheus.CounterVec // by endpoint and code
	batchSize  prometheus.Histogram
	clusters   *promx.LabelCap
}

func newMetrics(reg prometheus.Registerer, maxClusters int) *metrics {
	m := &metrics{
		beacons: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtt_beacons_total",
			Help: "Beacons accepted and stored in JetStream, by cluster (the beacon's labels.cluster, else its site).",
		}, []string{"cluster"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtt_beacons_duplicate_total",
			Help: "Beacons re-sent with an event id JetStream already held (answered ok, stored once).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtt_beacons_rejected_total",
			Help: "Beacons refused, by reason: invalid, too_large, unsupported_media_type, unauthorized, unavailable.",
		}, []string{"reason"}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rtt_ingest_publish_seconds",
			Help:    "Time from publish to JetStream acknowledgement, per request.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2.5, 12),
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtt_http_requests_total",
			Help: "HTTP requests by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rtt_ingest_batch_items",
			Help:    "Items per POST /beacons request.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		clusters: promx.NewLabelCap(maxClusters),
	}
	reg.MustRegister(m.beacons, m.duplicates, m.rejected, m.publish, m.requests, m.batchSize)
	return m
}
