//! Wakes inside one upstream exchange, absorbed instead of rescheduling the task.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

// The body's idle clock follows the runtime's (paused in tests).

/// Polls the futures of one upstream exchange (hyper's connection, the response, its body)
/// with a waker of our own. They wake one another constantly (the response is ready, the body
/// wants data, data is queued); to the runtime each such wake of a running task means
/// rescheduling it and nudging an idle worker thread awake (an eventfd write and a futex wake
/// per request). A wake that arrives while we are polling is instead noted and answered by
/// polling again at once; wakes at any other time (the socket became readable) go to the
/// task's own waker.
pub(super) struct InlineWake {
    shared: Arc<InlineState>,
    waker: Waker,
}

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const POLLING_WOKEN: u8 = 2;

struct InlineState {
    state: AtomicU8,
    task: Mutex<Option<Waker>>,
}

impl std::task::Wake for InlineState {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Absorbed while a poll is running (it will poll again); passed on otherwise.
        if self
            .state
            .compare_exchange(POLLING, POLLING_WOKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_err_and(|now| now == IDLE)
        {
            let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(task) = task {
                task.wake();
            }
        }
    }
}

impl InlineWake {
    /// Polls more than this many times in a row only if the task is woken again: a future that
    /// keeps waking itself (cooperative yielding) goes back to the runtime's queue.
    pub(super) const MAX_ROUNDS: usize = 8;

    pub(super) fn new() -> Self {
        let shared = Arc::new(InlineState {
            state: AtomicU8::new(IDLE),
            task: Mutex::new(None),
        });
        let waker = Waker::from(shared.clone());
        Self { shared, waker }
    }

    pub(super) fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        {
            let mut task = self.shared.task.lock().unwrap_or_else(|e| e.into_inner());
            if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        let mut inner = Context::from_waker(&self.waker);
        for _ in 0..Self::MAX_ROUNDS {
            self.shared.state.store(POLLING, Ordering::Release);
            let result = f(&mut inner);
            let woken = self.shared.state.swap(IDLE, Ordering::AcqRel) == POLLING_WOKEN;
            if result.is_ready() || !woken {
                return result;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
