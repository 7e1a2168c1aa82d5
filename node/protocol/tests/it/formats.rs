//! Frozen formats (STYLE.md 11): the SHA-256 of the encoding of a sample of every wire type and
//! every enum variant is checked in at `tests/fixtures/formats.txt`. A change to any layout
//! changes a line here, and must be made on purpose:
//! `TOKENBOOK_BLESS=1 cargo test -p tokenbook-protocol --test it formats` rewrites the file.

use crate::samples;
use tokenbook_protocol::*;

fn line<T: Wire>(name: &str, value: &T) -> String {
    let bytes = encode(value);
    format!("{} {} {} {}", T::KIND, name, bytes.len(), Hash::digest(&bytes))
}

fn current() -> String {
    let mut lines: Vec<String> = samples::txs().iter().map(|(name, tx)| line(name, tx)).collect();
    lines.push(line("sample", &samples::block()));
    lines.push(line("sample", &samples::block().header));
    lines.push(line("sample", &samples::proposal()));
    lines.push(line("prevote_nil", &samples::vote(VoteKind::Prevote, None, 1)));
    lines.push(line(
        "precommit_value",
        &samples::vote(VoteKind::Precommit, Some(Hash::digest(b"v")), 1),
    ));
    lines.push(line("sample", &samples::certificate()));
    lines.push(line("sample", &samples::evidence()));
    lines.push(line("sample", &samples::validator_set()));
    lines.push(format!(
        "nonce_window sample {}",
        Hash::digest(&encode(&{
            let mut w = NonceWindow::default();
            w.accept(1_800_000_000_000, Timestamp::new(1_800_000_000_000)).unwrap();
            w
        }))
    ));
    lines.join("\n") + "\n"
}

#[test]
fn formats_are_frozen() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/formats.txt");
    let now = current();
    if std::env::var_os("TOKENBOOK_BLESS").is_some() {
        std::fs::write(path, &now).unwrap();
        return;
    }
    let frozen = std::fs::read_to_string(path).unwrap_or_default();
    if frozen != now {
        let changed: Vec<String> =
            now.lines().filter(|l| !frozen.lines().any(|f| f == *l)).map(str::to_owned).collect();
        panic!(
            "wire formats changed; if deliberate, rerun with TOKENBOOK_BLESS=1 and say so in the \
             commit. Lines that differ from {path}:\n{}",
            changed.join("\n")
        );
    }
}
