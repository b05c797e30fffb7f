//! What relayed Realtime sockets count: client frames whose token the
//! proxy put in (or took out), `access_token` pushes it sent on its own,
//! and the server's replies to those pushes it kept from the client.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

type Label = [(&'static str, &'static str); 1];

#[derive(Clone, Debug, Default)]
pub struct FrameMetrics {
    pub rewritten: Counter,
    pub pushed: Counter,
    pub dropped: Counter,
}

impl FrameMetrics {
    pub fn registered(registry: &mut Registry) -> FrameMetrics {
        let frames = Family::<Label, Counter>::default();
        let [rewritten, pushed, dropped] = ["rewritten", "pushed", "dropped"]
            .map(|kind| frames.get_or_create_owned(&[("kind", kind)]));
        registry.register(
            "sbp_realtime_frames",
            "Realtime frames the proxy changed: client frames with the session's token \
             (rewritten), its own access_token pushes (pushed), replies to those kept \
             from the client (dropped)",
            frames,
        );
        FrameMetrics {
            rewritten,
            pushed,
            dropped,
        }
    }
}
