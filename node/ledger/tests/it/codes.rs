//! docs/api.md's "Error codes" lists every refusal the ledger can give: each `RejectCode` (all
//! variants, found by decoding variant indexes until one is unknown) appears there by its code.

use tokenbook_ledger::RejectCode;
use tokenbook_protocol::codec::decode_record;

const API_DOC: &str = include_str!("../../../../docs/api.md");

#[test]
fn every_reject_code_is_in_the_api_documents_list() {
    let table =
        API_DOC.split("## Error codes").nth(1).expect("docs/api.md has an Error codes section");
    let codes: Vec<&str> = (0u32..)
        .map_while(|index| decode_record::<RejectCode>(&index.to_le_bytes()).ok())
        .map(RejectCode::code)
        .collect();
    assert!(codes.len() > 40, "found {} codes", codes.len());
    let missing: Vec<&&str> = codes.iter().filter(|c| !table.contains(&format!("`{c}`"))).collect();
    assert!(missing.is_empty(), "docs/api.md's Error codes lacks {missing:?}");
}
