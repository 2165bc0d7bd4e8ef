//! Parsed queries, kept by their text. A merchant's integration sends the same few
//! documents over and over (its charge mutation, its list query) with only the variables
//! changing; parsing one again costs more than the rest of a small request's GraphQL work.
//! Only documents that parsed are kept, never a failed one, and the cache is bounded: when
//! full it starts over, so a client sending endless distinct documents cannot grow it.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;

/// Documents kept at most; a typical integration has a few dozen.
const CAPACITY: usize = 512;
/// Longer documents are parsed each time (they are rare, and would fill memory).
const MAX_LEN: usize = 16 * 1024;

#[derive(Clone, Default)]
pub struct ParsedQueries(Arc<Mutex<HashMap<String, ExecutableDocument>>>);

impl ParsedQueries {
    /// Gives `req` its parsed document, from the cache or parsed now (and kept). A query
    /// that does not parse is left to the schema, which answers with the parse error.
    pub fn prepare(&self, req: &mut Request) {
        if req.query.len() > MAX_LEN {
            return;
        }
        let known = self
            .0
            .lock()
            .ok()
            .and_then(|map| map.get(&req.query).cloned());
        if let Some(doc) = known {
            req.set_parsed_query(doc);
            return;
        }
        let Ok(doc) = req.parsed_query().cloned() else {
            return;
        };
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.insert(req.query.clone(), doc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_parsed_once_and_a_bad_one_never_kept() {
        let cache = ParsedQueries::default();
        let mut first = Request::new("{ merchant { id } }");
        cache.prepare(&mut first);
        let mut again = Request::new("{ merchant { id } }");
        cache.prepare(&mut again);
        let len = cache.0.lock().map(|m| m.len()).unwrap_or(0);
        assert_eq!(len, 1);
        assert_eq!(
            again
                .parsed_query()
                .map(|d| d.operations.iter().count())
                .ok(),
            Some(1)
        );

        let mut bad = Request::new("{ merchant { id ");
        cache.prepare(&mut bad);
        assert_eq!(cache.0.lock().map(|m| m.len()).unwrap_or(0), 1);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = ParsedQueries::default();
        for i in 0..=CAPACITY {
            cache.prepare(&mut Request::new(format!("{{ a{i}: merchant {{ id }} }}")));
        }
        assert_eq!(cache.0.lock().map(|m| m.len()).unwrap_or(0), 1);
    }
}
