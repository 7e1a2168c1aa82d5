//! Rebuilds the node when the web console's files change: they are built into the binary
//! (`include_dir!` in `src/api/console.rs`), which cargo would not otherwise notice.

fn main() {
    println!("cargo:rerun-if-changed=../../console");
}
