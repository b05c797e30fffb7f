//! What the session cache counts of the store behind it: every operation
//! it sends to the backend, and those that failed, by operation, labelled
//! with the backend (`memory`, `file`, `redis`). Reads answered from
//! memory never reach the backend and are not counted here.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

type Labels = [(&'static str, &'static str); 2];

/// A store operation, as the cache sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    Get,
    Insert,
    UpdateTokens,
    UpdateUser,
    FindAuthSession,
    ClaimHookId,
    Touch,
    Remove,
    ListUser,
    Sweep,
    Ping,
    Lock,
    RenewLock,
    Unlock,
}

impl StoreOp {
    const ALL: [StoreOp; 14] = [
        StoreOp::Get,
        StoreOp::Insert,
        StoreOp::UpdateTokens,
        StoreOp::UpdateUser,
        StoreOp::FindAuthSession,
        StoreOp::ClaimHookId,
        StoreOp::Touch,
        StoreOp::Remove,
        StoreOp::ListUser,
        StoreOp::Sweep,
        StoreOp::Ping,
        StoreOp::Lock,
        StoreOp::RenewLock,
        StoreOp::Unlock,
    ];

    fn label(self) -> &'static str {
        match self {
            StoreOp::Get => "get",
            StoreOp::Insert => "insert",
            StoreOp::UpdateTokens => "update_tokens",
            StoreOp::UpdateUser => "update_user",
            StoreOp::FindAuthSession => "find_auth_session",
            StoreOp::ClaimHookId => "claim_hook_id",
            StoreOp::Touch => "touch",
            StoreOp::Remove => "remove",
            StoreOp::ListUser => "list_user",
            StoreOp::Sweep => "sweep",
            StoreOp::Ping => "ping",
            StoreOp::Lock => "lock",
            StoreOp::RenewLock => "renew_lock",
            StoreOp::Unlock => "unlock",
        }
    }
}

const OPS: usize = StoreOp::ALL.len();

#[derive(Clone, Debug, Default)]
pub struct StoreMetrics {
    operations: [Counter; OPS],
    errors: [Counter; OPS],
}

/// The two families, registered once; each backend gets its own series.
#[derive(Clone, Debug, Default)]
pub struct StoreFamilies {
    operations: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
}

impl StoreFamilies {
    pub fn registered(registry: &mut Registry) -> StoreFamilies {
        let families = StoreFamilies::default();
        registry.register(
            "sbp_store_operations",
            "Operations sent to the session store, by backend and operation",
            families.operations.clone(),
        );
        registry.register(
            "sbp_store_errors",
            "Store operations that failed (unreachable, timed out, refused), by backend and operation",
            families.errors.clone(),
        );
        families
    }

    /// The counters of `backend`.
    pub fn of(&self, backend: &'static str) -> StoreMetrics {
        let series = |family: &Family<Labels, Counter>| {
            StoreOp::ALL.map(|op| {
                family.get_or_create_owned(&[("backend", backend), ("operation", op.label())])
            })
        };
        StoreMetrics {
            operations: series(&self.operations),
            errors: series(&self.errors),
        }
    }
}

impl StoreMetrics {
    /// Counts one operation and whether it failed.
    pub fn counted<T, E>(&self, op: StoreOp, result: Result<T, E>) -> Result<T, E> {
        self.operations[op as usize].inc();
        if result.is_err() {
            self.errors[op as usize].inc();
        }
        result
    }

    /// Operations and errors of `op` so far.
    #[cfg(test)]
    pub fn count(&self, op: StoreOp) -> (u64, u64) {
        (
            self.operations[op as usize].get(),
            self.errors[op as usize].get(),
        )
    }
}
