//! Answers that change only when a height commits — a market's book and its trades — rendered
//! once per height however many clients ask for them.
//!
//! Promises: an entry is served only for the height it was rendered at (an answer is never
//! older than the read view it would have been built from); the cache holds at most
//! [`MAX_ENTRIES`] answers and forgets them all when full, so hostile keys cost memory once.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Mutex;
use tokenbook_protocol::Height;

/// Most answers kept (keys are per market and depth).
pub const MAX_ENTRIES: usize = 1_024;

/// Rendered JSON answers by key, each with the height it shows.
#[derive(Debug, Default)]
pub struct AnswerCache {
    entries: Mutex<HashMap<String, (Height, axum::body::Bytes)>>,
}

impl AnswerCache {
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
