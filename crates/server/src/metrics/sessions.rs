//! What the session service counts: sessions stored at sign-in, sessions
//! ended on this instance by reason, refreshes (or re-mints) by outcome.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use sbp_core::session::EndReason;
use sbp_core::token::Refreshed;

type Label = [(&'static str, &'static str); 1];

#[derive(Clone, Debug, Default)]
pub struct SessionMetrics {
    pub created: Counter,
    /// By [`EndReason::index`].
    ended: [Counter; EndReason::ALL.len()],
    /// `fresh`, `revoked`, `failed`: see [`SessionMetrics::refreshed`].
    refreshes: [Counter; 3],
}

impl SessionMetrics {
    /// The counters, registered in `registry`.
    pub fn registered(registry: &mut Registry) -> SessionMetrics {
        let refreshes = Family::<Label, Counter>::default();
        let ended = Family::<Label, Counter>::default();
        let metrics = SessionMetrics {
            created: Counter::default(),
            ended: EndReason::ALL
                .map(|reason| ended.get_or_create_owned(&[("reason", reason.label())])),
            refreshes: ["fresh", "revoked", "failed"]
                .map(|outcome| refreshes.get_or_create_owned(&[("outcome", outcome)])),
        };
        registry.register(
            "sbp_refreshes",
            "Refreshes (re-mints in mint mode) of upstream tokens, by outcome",
            refreshes,
        );
        registry.register(
            "sbp_sessions_created",
            "Sessions stored at a sign-in on this instance",
            metrics.created.clone(),
        );
        registry.register(
            "sbp_sessions_ended",
            "Sessions ended on this instance, by reason",
            ended,
        );
        metrics
    }

    /// Counts one refresh flight's outcome.
    pub fn refreshed(&self, outcome: &Refreshed) {
        let index = match outcome {
            Refreshed::Fresh(_) => 0,
            Refreshed::Revoked => 1,
            Refreshed::Failed => 2,
        };
        self.refreshes[index].inc();
    }

    /// Counts `count` sessions ended for `reason`.
    pub fn ended(&self, reason: EndReason, count: u64) {
        self.ended[reason.index()].inc_by(count);
    }

    /// Fresh, revoked and failed refreshes so far.
    #[cfg(test)]
    pub fn refreshes(&self) -> [u64; 3] {
        self.refreshes.each_ref().map(Counter::get)
    }

    /// Sessions ended for `reason` so far.
    #[cfg(test)]
    pub fn ended_for(&self, reason: EndReason) -> u64 {
        self.ended[reason.index()].get()
    }
}
