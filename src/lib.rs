//! `thematic` codes free-text consultation responses against a codebook of
//! themes, indexes them for search, and writes the reports an analyst hands
//! to a review's chair.
//!
//! Data flows one way: [`corpus`] reads and normalises records → [`text`]
//! tokenises each answer once → [`index`] (tantivy) and [`classify`] consume
//! the same tokens → [`report`] aggregates and writes. [`pipeline`] wires the
//! stages together for the CLI; [`eval`] compares codes with hand-coded labels.
//!
//! | module       | what it is for                                              |
//! |--------------|-------------------------------------------------------------|
//! | [`corpus`]   | JSONL/CSV/XLSX readers, NFC ids and attributes, rejects     |
//! | [`text`]     | the one tokeniser (words, stems, sentences, offsets)        |
//! | [`codebook`] | codebook TOML model and validation                          |
//! | [`classify`] | keyword and rule classifiers, evidence                      |
//! | [`index`]    | tantivy schema, writer, reader                              |
//! | [`report`]   | counts, crosstabs, key terms, quotes, redaction, writers    |
//! | [`search`]   | query language, filters, counts, snippets                   |
//! | [`eval`]     | precision/recall/F1/kappa against gold labels               |
//! | [`output`]   | output directory lock, staging and atomic commit            |
//! | [`pipeline`] | `run`, `code`, `report` end to end                          |
//! | [`spool`]    | per-response state kept on disk until a run's end           |

pub mod classify;
pub mod codebook;
pub mod codes_json;
pub mod corpus;
pub mod eval;
pub mod export;
pub mod index;
pub mod output;
pub mod overrides;
pub mod pipeline;
pub mod report;
pub mod search;
pub mod serve;
pub mod spool;
pub mod text;
