//! Answers that change only when a height commits — a market's book and its trades — rendered
//! once per height however many clients ask for them.
//!
//! Promises: an entry is served only for the height it was rendered at (an answer is never
//! older than the read view it would have been built from); requests that miss together wait
//! for one rendering instead of each rendering it ([`AnswerCache::get_or_render`]); the cache
//! holds at most [`MAX_ENTRIES`] answers and forgets them all when full, so hostile keys cost
//! memory once.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokenbook_protocol::Height;

/// Most answers kept (keys are per market and depth).
pub const MAX_ENTRIES: usize = 1_024;

/// Rendered JSON answers by key, each with the height it shows.
#[derive(Debug, Default)]
pub struct AnswerCache {
    entries: Mutex<HashMap<String, (Height, axum::body::Bytes)>>,
    /// One turn per key for rendering: the first request of a height renders, the others wait.
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl AnswerCache {
    /// The answer for `key` at `height`: the kept one, or `render`'s, rendered by one request
    /// while concurrent requests for the same key wait for it.
    ///
    /// # Errors
    /// `render`'s error (nothing is kept then).
    pub async fn get_or_render<E, F, Fut>(
        &self,
        key: String,
        height: Height,
        render: F,
    ) -> Result<Response, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<u8>, E>>,
    {
        if let Some(answer) = self.get(&key, height) {
            return Ok(answer);
        }
        let turn = self.turn(&key);
        let _mine = turn.lock().await;
        if let Some(answer) = self.get(&key, height) {
            return Ok(answer);
        }
        let body = render().await?;
        Ok(self.put(key, height, body))
    }

    fn turn(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let Ok(mut turns) = self.turns.lock() else { return Arc::default() };
        if turns.len() >= MAX_ENTRIES && !turns.contains_key(key) {
            turns.clear();
        }
        Arc::clone(turns.entry(key.to_owned()).or_default())
    }

    /// The answer for `key` rendered at `height`, if there is one.
    pub fn get(&self, key: &str, height: Height) -> Option<Response> {
        let entries = self.entries.lock().ok()?;
        let (at, body) = entries.get(key)?;
        (*at == height).then(|| json_response(body.clone()))
    }

    /// Keeps `body` as the answer for `key` at `height` (unless a newer one is kept) and
    /// returns it as a response.
    pub fn put(&self, key: String, height: Height, body: Vec<u8>) -> Response {
        let body = axum::body::Bytes::from(body);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
                entries.clear();
            }
            let newer = entries.get(&key).is_some_and(|(at, _)| *at > height);
            if !newer {
                entries.insert(key, (height, body.clone()));
            }
        }
        json_response(body)
    }
}

fn json_response(body: axum::body::Bytes) -> Response {
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_served_only_at_its_height() {
        let cache = AnswerCache::default();
        let _ = cache.put("book/X/20".into(), Height::new(5), b"{}".to_vec());
        assert!(cache.get("book/X/20", Height::new(5)).is_some());
        assert!(cache.get("book/X/20", Height::new(6)).is_none());
        assert!(cache.get("book/X/21", Height::new(5)).is_none());
        // A slower request rendering an older height does not replace a newer answer.
        let _ = cache.put("book/X/20".into(), Height::new(4), b"[]".to_vec());
        assert!(cache.get("book/X/20", Height::new(5)).is_some());
    }

    #[tokio::test]
    async fn requests_that_miss_together_render_once() {
        let cache = Arc::new(AnswerCache::default());
        let renders = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let asks = (0..8).map(|_| {
            let (cache, renders) = (Arc::clone(&cache), Arc::clone(&renders));
            tokio::spawn(async move {
                let render = || async {
                    renders.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    Ok::<_, ()>(b"{}".to_vec())
                };
                cache.get_or_render("trades/1".into(), Height::new(9), render).await.is_ok()
            })
        });
        for ask in asks.collect::<Vec<_>>() {
            assert!(ask.await.unwrap());
        }
        assert_eq!(renders.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = AnswerCache::default();
        for i in 0..MAX_ENTRIES {
            let _ = cache.put(format!("k{i}"), Height::new(1), Vec::new());
        }
        let _ = cache.put("new".into(), Height::new(1), Vec::new());
        assert!(cache.get("k0", Height::new(1)).is_none());
        assert!(cache.get("new", Height::new(1)).is_some());
    }
}
