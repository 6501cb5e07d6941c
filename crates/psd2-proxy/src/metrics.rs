//! The Prometheus metrics of `/metrics` (prometheus-client, text format).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `route`, `status`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) route: String,
    pub(crate) status: u16,
}

/// `route`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabel {
    pub(crate) route: String,
}

/// `route`, `certificate` (`qwac`, `qseal`, `listener`), `serial`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CertLabels {
    pub(crate) route: String,
    pub(crate) certificate: String,
    pub(crate) serial: String,
}

/// Latency buckets from 0.5 ms to about 16 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Everything the proxy counts.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) seal_seconds: Family<RouteLabel, Histogram, fn() -> Histogram>,
    pub(crate) upstream_seconds: Family<RouteLabel, Histogram, fn() -> Histogram>,
    pub(crate) upstream_handshakes: Family<RouteLabel, Counter>,
    pub(crate) hsm_errors: Family<RouteLabel, Counter>,
    pub(crate) in_flight: Gauge,
    pub(crate) caller_connections: Gauge,
    pub(crate) rejected_busy: Counter,
    pub(crate) not_after: Family<CertLabels, Gauge>,
    pub(crate) reloads: Counter,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let m = Self {
            registry: Registry::with_prefix("psd2_proxy"),
            requests: Family::default(),
            seal_seconds: Family::new_with_constructor(latency),
            upstream_seconds: Family::new_with_constructor(latency),
            upstream_handshakes: Family::default(),
            hsm_errors: Family::default(),
            in_flight: Gauge::default(),
            caller_connections: Gauge::default(),
            rejected_busy: Counter::default(),
            not_after: Family::default(),
            reloads: Counter::default(),
        };
        let mut r = m.registry;
        r.register("requests", "Requests answered, by route and status", m.requests.clone());
        r.register("seal_duration_seconds", "Time to seal a request with the QSealC", m.seal_seconds.clone());
        r.register(
            "upstream_duration_seconds",
            "Time from sending a request upstream to its response headers",
            m.upstream_seconds.clone(),
        );
        r.register(
            "upstream_connections_opened",
            "New mTLS connections to the upstream (full handshakes); the rest reuse the pool",
            m.upstream_handshakes.clone(),
        );
        r.register(
            "hsm_errors",
            "Signing failures of an identity key (sealing or the health probe)",
            m.hsm_errors.clone(),
        );
        r.register("in_flight_requests", "Requests being served now", m.in_flight.clone());
        r.register("caller_connections", "Open connections of internal callers", m.caller_connections.clone());
        r.register(
            "rejected_busy",
            "Requests refused with 503: the concurrency limit was reached",
            m.rejected_busy.clone(),
        );
        r.register(
            "certificate_not_after_timestamp_seconds",
            "End of validity of each certificate in use (Unix time)",
            m.not_after.clone(),
        );
        r.register("reloads", "Successful configuration reloads", m.reloads.clone());
        Self { registry: r, ..m }
    }

    /// The text exposition format.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
