//! The fenced `key: value` blocks of docs/wire-format.md (test vectors), shared by the protocol
//! and store tests (the store's include this file by path).

use std::collections::BTreeMap;

/// docs/wire-format.md.
pub const WIRE_FORMAT: &str = include_str!("../../../../docs/wire-format.md");

/// Every fenced block of docs/wire-format.md tagged `tag`, as its `key: value` lines.
pub fn blocks_tagged(tag: &str) -> Vec<BTreeMap<String, String>> {
    let fence = format!("```{tag}");
    let mut blocks = Vec::new();
    let mut current: Option<BTreeMap<String, String>> = None;
    for line in WIRE_FORMAT.lines() {
        match (&mut current, line.trim()) {
            (None, text) if text == fence => current = Some(BTreeMap::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), text) => {
                let (key, value) = text.split_once(": ").expect("vector lines are `key: value`");
                block.insert(key.to_owned(), value.to_owned());
            }
            (None, _) => {}
        }
    }
    blocks
}
