//! The event stream as the page reads it: every event numbered in order,
//! the last few kept for the page's event panel, and handed to each open
//! page through a bounded broadcast. A page that falls behind loses events
//! and sees a gap in the numbers, and then refetches the snapshot; nothing
//! it does can hold up the host.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hyper::body::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::events::{Event, EventSink};

/// Events waiting for one page before it starts losing them.
pub const PAGE_QUEUE: usize = 1024;

/// Events kept for the event panel of a page that opens.
pub const RECENT: usize = 200;

/// One event with its number, as sent to pages.
#[derive(Debug, Serialize)]
pub struct Numbered {
    /// 1 for the first event the feed saw, then one more for each.
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// The numbered stream of one host's events.
pub struct Feed {
    seq: AtomicU64,
    recent: Mutex<VecDeque<Arc<Numbered>>>,
    pages: broadcast::Sender<Arc<Numbered>>,
}

impl Feed {
    /// Starts numbering `events` from now on, on a task of its own.
    pub fn start(events: &EventSink) -> Arc<Feed> {
        let feed = Arc::new(Feed {
            seq: AtomicU64::new(0),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            pages: broadcast::channel(PAGE_QUEUE).0,
        });
        // In-process and only numbering: it keeps up, so the unbounded
        // subscription does not grow.
        let mut rx = events.subscribe();
        let weak = Arc::downgrade(&feed);
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let Some(feed) = weak.upgrade() else {
                    return;
                };
                feed.push(event);
            }
        });
        feed
    }

    fn push(&self, event: Event) {
        let seq = self.seq.load(Ordering::Relaxed) + 1;
        let numbered = Arc::new(Numbered { seq, event });
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(numbered.clone());
            // Under the lock: a snapshot reads the number and the recent
            // events together.
            self.seq.store(seq, Ordering::Relaxed);
        }
        let _ = self.pages.send(numbered);
    }

    /// The number of the last event, and the recent events up to it.
    pub fn recent(&self) -> (u64, Vec<Arc<Numbered>>) {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        (
            self.seq.load(Ordering::Relaxed),
            recent.iter().cloned().collect(),
        )
    }

    /// A page's stream: `hello` with the last number, then each event as it
    /// comes, as server-sent events. Ends when the page goes away.
    pub fn stream(&self) -> tokio::sync::mpsc::Receiver<Bytes> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let mut events = self.pages.subscribe();
        let hello = format!(
            "event: hello\ndata: {{\"seq\":{}}}\n\n",
            self.seq.load(Ordering::Relaxed)
        );
        tokio::spawn(async move {
            if tx.send(Bytes::from(hello)).await.is_err() {
                return;
            }
            let mut heartbeat = tokio::time::interval(std::time::Duration::from_secs(15));
            loop {
                let chunk = tokio::select! {
                    received = events.recv() => match received {
                        Ok(numbered) => {
                            let json = serde_json::to_string(&*numbered).expect("events serialize");
                            format!("id: {}\ndata: {json}\n\n", numbered.seq)
                        }
                        // The page sees the gap in the numbers and refetches.
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = heartbeat.tick() => ": ping\n\n".to_string(),
                };
                if tx.send(Bytes::from(chunk)).await.is_err() {
                    return;
                }
            }
        });
        rx
    }
}
