package relay

import (
	"time"

	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the relay's Prometheus metrics, on a registry of their own.
type metrics struct {
	reg *prometheus.Registry

	sessions      prometheus.Gauge
	sessionsTotal prometheus.Counter
	sessionSecs   prometheus.Histogram
	bytes         prometheus.Counter
	reservations  prometheus.Gauge
	reserveReqs   *prometheus.CounterVec // status
	circuitReqs   *prometheus.CounterVec // status
	refusals      *prometheus.CounterVec // reason
	rendezvousOps *prometheus.CounterVec // op, status
}

var _ circuit.MetricsTracer = (*metrics)(nil)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_relay_sessions", Help: "Relayed connections open now.",
		}),
		sessionsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_relay_sessions_total", Help: "Relayed connections opened.",
		}),
		sessionSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ferry_relay_session_seconds", Help: "Lifetime of closed relayed connections.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_relay_bytes_total", Help: "Bytes relayed, both directions.",
		}),
		reservations: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_relay_reservations", Help: "Relay slots reserved now.",
		}),
		reserveReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_relay_reservation_requests_total", Help: "Reservation requests by outcome.",
		}, []string{"status"}),
		circuitReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_relay_circuit_requests_total", Help: "Relayed connection requests by outcome.",
		}, []string{"status"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_relay_refusals_total", Help: "Requests refused, by reason.",
		}, []string{"reason"}),
		rendezvousOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_relay_rendezvous_ops_total", Help: "Rendezvous requests by operation and outcome.",
		}, []string{"op", "status"}),
	}
	m.reg.MustRegister(m.sessions, m.sessionsTotal, m.sessionSecs, m.bytes, m.reservations,
		m.reserveReqs, m.circuitReqs, m.refusals, m.rendezvousOps,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) refused(reason string) { m.refusals.WithLabelValues(reason).Inc() }

func (m *metrics) RelayStatus(bool) {}

func (m *metrics) ConnectionOpened() {
	m.sessions.Inc()
	m.sessionsTotal.Inc()
}

func (m *metrics) ConnectionClosed(d time.Duration) {
	m.sessions.Dec()
	m.sessionSecs.Observe(d.Seconds())
}

func (m *metrics) ConnectionRequestHandled(st pbv2.Status) {
	m.circuitReqs.WithLabelValues(st.String()).Inc()
	if st != pbv2.Status_OK {
		m.refused("circuit_" + st.String())
	}
}

func (m *metrics) ReservationAllowed(renewal bool) {
	if !renewal {
		m.reservations.Inc()
	}
}

func (m *metrics) ReservationClosed(n int) { m.reservations.Sub(float64(n)) }

func (m *metrics) ReservationRequestHandled(st pbv2.Status) {
	m.reserveReqs.WithLabelValues(st.String()).Inc()
}

func (m *metrics) BytesTransferred(n int) { m.bytes.Add(float64(n)) }
