//! Parsed queries, kept by their text. A merchant's integration sends the same few
//! documents over and over (its charge mutation, its list query) with only the variables
//! changing; parsing one again costs more than the rest of a small request's GraphQL work.
//! Only documents that parsed are kept, never a failed one, and the cache is bounded: when
//! full it starts over, so a client sending endless distinct documents cannot grow it.
//!
//! A kept document that declares no variables is also noted once it has passed every
//! validation rule: what the rules find in such a document depends on its text alone (the
//! rules read a request's variables, and its operation name only to know which variables
//! apply), so it need not go through them again (`graphql::validated_schema`).
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response};

/// Documents kept at most; a typical integration has a few dozen.
const CAPACITY: usize = 512;
/// Longer documents are parsed each time (they are rare, and would fill memory).
const MAX_LEN: usize = 16 * 1024;

struct Known {
    doc: ExecutableDocument,
    /// No operation of it declares a variable.
    without_variables: bool,
    /// It has passed every validation rule.
    validated: bool,
}

/// What a prepared request still needs checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Prepared {
    /// Every validation rule. `note`: the document's text, for [`ParsedQueries::note`]
    /// once it passes, if it declares no variables and is kept.
    Unvalidated { note: Option<String> },
    /// A kept document without variables that has passed every rule before.
    Validated,
}

#[derive(Clone, Default)]
pub struct ParsedQueries(Arc<Mutex<HashMap<String, Known>>>);

impl ParsedQueries {
    /// Gives `req` its parsed document, from the cache or parsed now (and kept). A query
    /// that does not parse is left to the schema, which answers with the parse error.
    pub fn prepare(&self, req: &mut Request) -> Prepared {
        let unvalidated = Prepared::Unvalidated { note: None };
        if req.query.len() > MAX_LEN {
            return unvalidated;
        }
        let known = self.0.lock().ok().and_then(|map| {
            map.get(&req.query)
                .map(|k| (k.doc.clone(), k.without_variables, k.validated))
        });
        let without_variables = match known {
            Some((doc, without_variables, validated)) => {
                req.set_parsed_query(doc);
                if validated {
                    return Prepared::Validated;
                }
                without_variables
            }
            None => {
                let Ok(doc) = req.parsed_query().cloned() else {
                    return unvalidated;
                };
                let without_variables = doc
                    .operations
                    .iter()
                    .all(|(_, op)| op.node.variable_definitions.is_empty());
                if let Ok(mut map) = self.0.lock() {
                    if map.len() >= CAPACITY {
                        map.clear();
                    }
                    map.insert(
                        req.query.clone(),
                        Known {
                            doc,
                            without_variables,
                            validated: false,
                        },
                    );
                }
                without_variables
            }
        };
        Prepared::Unvalidated {
            note: without_variables.then(|| req.query.clone()),
        }
    }

    /// Notes that the document `query` passed every validation rule, as its answer shows:
    /// a document that fails one is answered with no data at all (`data: null`). One that
    /// passed but was answered `data: null` for another reason (its root field failed) is
    /// merely not noted, and is validated in full again next time.
    pub fn note(&self, query: &str, answer: &Response) {
        if answer.data == async_graphql::Value::Null {
            return;
        }
        if let Ok(mut map) = self.0.lock()
            && let Some(known) = map.get_mut(query)
            && known.without_variables
        {
            known.validated = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::Value;

    fn len(cache: &ParsedQueries) -> usize {
        cache.0.lock().map(|m| m.len()).unwrap_or(0)
    }

    fn answer(data: Value) -> Response {
        Response::new(data)
    }

    #[test]
    fn a_document_is_parsed_once_and_a_bad_one_never_kept() {
        let cache = ParsedQueries::default();
        let mut first = Request::new("{ merchant { id } }");
        cache.prepare(&mut first);
        let mut again = Request::new("{ merchant { id } }");
        cache.prepare(&mut again);
        assert_eq!(len(&cache), 1);
        assert_eq!(
            again
                .parsed_query()
                .map(|d| d.operations.iter().count())
                .ok(),
            Some(1)
        );

        let mut bad = Request::new("{ merchant { id ");
        assert_eq!(
            cache.prepare(&mut bad),
            Prepared::Unvalidated { note: None }
        );
        assert_eq!(len(&cache), 1);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = ParsedQueries::default();
        for i in 0..=CAPACITY {
            cache.prepare(&mut Request::new(format!("{{ a{i}: merchant {{ id }} }}")));
        }
        assert_eq!(len(&cache), 1);
    }

    #[test]
    fn a_document_without_variables_skips_the_rules_once_it_has_passed_them() {
        let cache = ParsedQueries::default();
        let query = "{ merchant { id } }";
        let note = Some(query.to_string());
        assert_eq!(
            cache.prepare(&mut Request::new(query)),
            Prepared::Unvalidated { note: note.clone() }
        );
        // Answered with no data: a rule failed (or the answer is null anyway). Not noted.
        cache.note(query, &answer(Value::Null));
        assert_eq!(
            cache.prepare(&mut Request::new(query)),
            Prepared::Unvalidated { note }
        );
        cache.note(
            query,
            &answer(Value::from_json(serde_json::json!({})).unwrap()),
        );
        let mut again = Request::new(query);
        assert_eq!(cache.prepare(&mut again), Prepared::Validated);
        assert!(again.parsed_query().is_ok());
    }

    #[test]
    fn a_document_with_variables_is_validated_every_time() {
        let cache = ParsedQueries::default();
        let query = "query ($id: ID!) { payment(id: $id) { id } }";
        assert_eq!(
            cache.prepare(&mut Request::new(query)),
            Prepared::Unvalidated { note: None }
        );
        let data = Value::from_json(serde_json::json!({ "payment": null })).unwrap();
        cache.note(query, &answer(data));
        assert_eq!(
            cache.prepare(&mut Request::new(query)),
            Prepared::Unvalidated { note: None }
        );
        // Nor is a document that was never kept noted.
        cache.note(
            "{ other }",
            &answer(Value::from_json(serde_json::json!({})).unwrap()),
        );
        assert_eq!(len(&cache), 1);
    }
}
