//! A gauge read from the relay's own count of open sockets when scraped:
//! opening and closing a socket costs the metrics nothing.

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::{MetricType, TypedMetric};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct OpenSockets(pub Arc<AtomicUsize>);

impl TypedMetric for OpenSockets {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for OpenSockets {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let open = i64::try_from(self.0.load(Ordering::Acquire)).unwrap_or(i64::MAX);
        encoder.encode_gauge(&open)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}
