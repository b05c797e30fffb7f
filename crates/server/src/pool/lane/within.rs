//! The response deadline of a request on a lane, as a future that holds
//! the request's future once (an `async fn` would keep a second copy of it
//! as its argument, and every request's future would carry both).

use super::Lane;
use crate::sync::lock;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pin_project_lite::pin_project! {
    /// `future`'s output, or `None` once the lane's deadline has passed.
    pub struct Within<'a, B, F> {
        #[pin]
        future: F,
        lane: &'a Lane<B>,
    }

    impl<B, F> PinnedDrop for Within<'_, B, F> {
        // An idle connection is not woken by a deadline that no longer matters.
        fn drop(this: Pin<&mut Self>) {
            let lane = &this.lane.0;
            if let Some(sleep) = lock(&lane.deadline).as_ref() {
                lane.timer.disarm(sleep);
            }
        }
    }
}

impl<'a, B, F: Future> Within<'a, B, F> {
    /// Arms `lane`'s deadline `limit` from now.
    pub fn new(lane: &'a Lane<B>, limit: Duration, future: F) -> Self {
        let state = &lane.0;
        let mut deadline = lock(&state.deadline);
        match deadline.as_ref() {
            Some(sleep) => state.timer.rearm(sleep, limit),
            None => *deadline = Some(state.timer.sleep_for(limit)),
        }
        Within { future, lane }
    }
}

impl<B, F: Future> Future for Within<'_, B, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Some(output));
        }
        let mut deadline = lock(&this.lane.0.deadline);
        match deadline.as_mut().map(|sleep| Pin::new(sleep).poll(cx)) {
            Some(Poll::Pending) => Poll::Pending,
            _ => Poll::Ready(None),
        }
    }
}
