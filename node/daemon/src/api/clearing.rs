//! `GET /v1/clearing/events`: the clearing house's risk events across all accounts —
//! liquidations, auto-deleveraging and each step of the default waterfall — oldest first, read
//! through the store's clearing index (so a day of them costs the heights that had one, not
//! every height).
//!
//! Promises: the first height is the later of `from_height` and the first block at or after
//! `since_ms` (with neither: a day before the last block's time); at most `limit` events (default and most 1,000), always whole heights, and
//! `next_from_height` says where to continue when more remain. Every event carries its height
//! and block time.

use super::errors::ApiQuery;
use super::reads::{blocking, events_at, store_failure, view};
use super::{ApiResult, ApiState};
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use tokenbook_protocol::Height;
use tokenbook_store::{StoreError, StoreReader};

/// A day, the default look-back.
const DAY_MS: u64 = 86_400_000;
/// Most events in one answer.
const MAX_EVENTS: usize = 1_000;

#[derive(Deserialize)]
pub(super) struct EventsQuery {
    from_height: Option<u64>,
    since_ms: Option<u64>,
    limit: Option<usize>,
}

/// One page of clearing events.
struct Page {
    from: Height,
    events: Vec<Value>,
    next: Option<Height>,
}

/// `/v1/clearing/events?since_ms=T|from_height=H&limit=N`.
pub(super) async fn events(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> ApiResult {
    let limit = query.limit.unwrap_or(MAX_EVENTS).clamp(1, MAX_EVENTS);
    let view = view(&state);
    let until = view.height;
    let since = match (query.since_ms, query.from_height) {
        (Some(t), _) => Some(t),
        (None, None) => Some(view.globals.time.get().saturating_sub(DAY_MS)),
        (None, Some(_)) => None,
    };
    let from_height = query.from_height.map(Height::new);
    let past_end = Height::new(until.get().saturating_add(1));
    let page = blocking(&state, move |store| {
        let by_time = match since {
            // No block that late: start past the end.
            Some(t) => Some(store.height_at_time(t)?.unwrap_or(past_end)),
            None => None,
        };
        let from = by_time.max(from_height).unwrap_or(past_end);
        read_page(store, from, until, limit)
    })
    .await?
    .map_err(|e| store_failure(&e))?;
    Ok(axum::Json(json!({ "from_height": page.from, "until_height": until,
                          "events": page.events, "next_from_height": page.next }))
    .into_response())
}

/// The clearing events from `from` through `until`, whole heights, stopping once `limit` is
/// reached.
fn read_page(
    store: &StoreReader,
    from: Height,
    until: Height,
    limit: usize,
) -> Result<Page, StoreError> {
    let mut events = Vec::new();
    let mut next = None;
    for (height, positions) in store.clearing_history(from, limit.saturating_add(1))? {
        if height > until {
            break;
        }
        if events.len() >= limit {
            next = Some(height);
            break;
        }
        let (Some(receipts), Some(block)) = (store.receipts(height)?, store.block(height)?) else {
            continue;
        };
        let time = block.header.time;
        for position in positions {
            let clearing = events_at(&receipts, position).iter().filter(|e| e.is_clearing());
            events.extend(clearing.map(|e| json!({ "height": height, "time": time, "event": e })));
        }
    }
    Ok(Page { from, events, next })
}
