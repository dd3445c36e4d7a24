package natsx

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// ConsumerCollector reports the backlog of durable consumers at scrape
// time: messages not yet delivered (pending), delivered but unacknowledged
// (ack pending) and redelivered.
type ConsumerCollector struct {
	consumers  []jetstream.Consumer
	pending    *prometheus.Desc
	ackPending *prometheus.Desc
	redeliv    *prometheus.Desc
}

// NewConsumerCollector returns a collector for consumers; register it with
// the service's registry.
func NewConsumerCollector(consumers ...jetstream.Consumer) *ConsumerCollector {
	labels := []string{"stream", "consumer"}
	return &ConsumerCollector{
		consumers:  consumers,
		pending:    prometheus.NewDesc("rtt_consumer_pending", "Messages in the stream not yet delivered to the consumer (lag).", labels, nil),
		ackPending: prometheus.NewDesc("rtt_consumer_ack_pending", "Messages delivered and not yet acknowledged.", labels, nil),
		redeliv:    prometheus.NewDesc("rtt_consumer_redelivered", "Messages delivered more than once and not yet acknowledged.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *ConsumerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.ackPending
	ch <- c.redeliv
}

// Collect implements prometheus.Collector; a consumer whose info cannot be
// read within a second is left out of that scrape.
func (c *ConsumerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, cons := range c.consumers {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := cons.Info(ctx)
		cancel()
		if err != nil {
			continue
		}
		l := []string{info.Stream, info.Name}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.NumPending), l...)
		ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(info.NumAckPending), l...)
		ch <- prometheus.MustNewConstMetric(c.redeliv, prometheus.GaugeValue, float64(info.NumRedelivered), l...)
	}
}

// StreamCollector reports the size of streams at scrape time.
type StreamCollector struct {
	js       jetstream.JetStream
	names    []string
	messages *prometheus.Desc
	bytes    *prometheus.Desc
}

// NewStreamCollector returns a collector for the named streams.
func NewStreamCollector(js jetstream.JetStream, names ...string) *StreamCollector {
	return &StreamCollector{
		js: js, names: names,
		messages: prometheus.NewDesc("rtt_stream_messages", "Messages held by the stream.", []string{"stream"}, nil),
		bytes:    prometheus.NewDesc("rtt_stream_bytes", "Bytes held by the stream.", []string{"stream"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *StreamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.messages
	ch <- c.bytes
}

// Collect implements prometheus.Collector.
func (c *StreamCollector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.names {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := c.js.Stream(ctx, name)
		if err == nil {
			var info *jetstream.StreamInfo
			if info, err = st.Info(ctx); err == nil {
				ch <- prometheus.MustNewConstMetric(c.messages, prometheus.GaugeValue, float64(info.State.Msgs), name)
				ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(info.State.Bytes), name)
			}
		}
		cancel()
	}
}
