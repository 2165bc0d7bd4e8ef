//! Lists of objects resolved field by field, in place. async-graphql resolves each object of
//! a list by boxing a future for every field asked for, polling them together and merging
//! their answers into a map: on a page of 20 payments asking for a few plain fields, that
//! machinery was about a sixth of `serve`'s CPU (perf, list benchmark), while the fields
//! themselves only read a row already loaded. Where every field asked for answers from
//! memory, the objects here are resolved one field after another with no future boxed.
//! Anything else (a field that loads more, a fragment, a directive) takes async-graphql's own
//! path, so answers and errors are the same either way.
//!
//! The schemas register no extension (`super::build`), and this relies on it: an extension
//! that hooks each field's resolution would not see the fields resolved here, and
//! async-graphql does not tell a resolver whether one is registered.
use std::borrow::Cow;
use std::cell::RefCell;
use std::hash::{BuildHasher, RandomState};
use std::sync::LazyLock;

use async_graphql::indexmap::IndexMap;
use async_graphql::indexmap::map::RawEntryApiV1;
use async_graphql::indexmap::map::raw_entry_v1::RawEntryMut;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    ContainerType, ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value,
};

/// An object some of whose fields answer from what it holds, with no I/O: asked one after
/// another, they cost no waiting.
pub trait InMemory: ContainerType {
    /// Whether `field`, selected on this type, answers from memory, its own selection
    /// included. A field wrongly said to would be right still, only slower in a list.
    fn field_in_memory(field: &Field) -> bool;
}

/// Whether every selection of `set` is a field with no directive that `T` answers from
/// memory, each under a response key of its own (async-graphql merges repeated keys).
pub fn in_memory<T: InMemory>(set: &SelectionSet) -> bool {
    // Checked for every object of a page, so with no allocation: a selection is a few fields.
    fn field(s: &Positioned<Selection>) -> Option<&Field> {
        match &s.node {
            Selection::Field(f) => Some(&f.node),
            _ => None,
        }
    }
    set.items.iter().enumerate().all(|(i, s)| {
        field(s).is_some_and(|f| {
            f.directives.is_empty()
                && (f.name.node == "__typename" || T::field_in_memory(f))
                && set.items[..i]
                    .iter()
                    .filter_map(field)
                    .all(|g| g.response_key().node != f.response_key().node)
        })
    })
}

/// The hasher of every object answered here. An object's answer is an `IndexMap` keyed with
/// SipHash, and hashing each key of each object was 7 % of a page's instructions (callgrind,
/// list benchmark). Under one hasher a key hashes the same in every map, so its hash is
/// worked out once and kept ([`hash_of`]).
static HASHER: LazyLock<RandomState> = LazyLock::new(RandomState::new);

/// At most this many keys' hashes are kept per thread: a page asks for a few.
const HASHES_KEPT: usize = 16;

thread_local! {
    /// Response keys met on this thread, with their hashes under [`HASHER`].
    static HASHES: RefCell<Vec<(Name, u64)>> = const { RefCell::new(Vec::new()) };
}

/// `key`'s hash under [`HASHER`], kept from the last time it was met. A hash depends on the
/// key's text alone, so a key equal to a kept one has its hash.
fn hash_of(key: &Name) -> u64 {
    HASHES.with_borrow_mut(|kept| {
        if let Some((_, hash)) = kept.iter().find(|(k, _)| k == key) {
            return *hash;
        }
        let hash = HASHER.hash_one(key);
        if kept.len() >= HASHES_KEPT {
            kept.clear();
        }
        kept.push((key.clone(), hash));
        hash
    })
}

/// Inserts as `IndexMap::insert` does (a key already there keeps its place and takes the
/// new value), with the hash [`hash_of`] keeps: the map's hasher must be [`HASHER`].
fn insert(map: &mut IndexMap<Name, Value>, key: Name, value: Value) {
    let hash = hash_of(&key);
    match map.raw_entry_mut_v1().from_key_hashed_nocheck(hash, &key) {
        RawEntryMut::Occupied(mut entry) => {
            entry.insert(value);
        }
        RawEntryMut::Vacant(entry) => {
            entry.insert_hashed_nocheck(hash, key, value);
        }
    }
}

/// `root`'s fields one after another, answered as async-graphql's container resolver answers
/// them when no extension or directive is involved: a field's error is added to the response
/// and the field left out; no field at all is null.
async fn resolve_fields<T: ContainerType>(ctx: &ContextSelectionSet<'_>, root: &T) -> Value {
    let mut map = IndexMap::with_capacity_and_hasher(ctx.item.node.items.len(), HASHER.clone());
    for selection in &ctx.item.node.items {
        let Selection::Field(field) = &selection.node else {
            continue;
        };
        let key = field.node.response_key().node.clone();
        if field.node.name.node == "__typename" {
            insert(
                &mut map,
                key,
                Value::String(root.introspection_type_name().into_owned()),
            );
            continue;
        }
        match root.resolve_field(&ctx.with_field(field)).await {
            Ok(value) => insert(&mut map, key, value.unwrap_or_default()),
            Err(e) => ctx.add_error(e),
        }
    }
    if map.is_empty() {
        Value::Null
    } else {
        Value::Object(map)
    }
}

/// An object resolved in place when the selection allows; the same type in the schema.
pub struct InPlace<T>(pub T);

impl<T: InMemory> OutputType for InPlace<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        if in_memory::<T>(&ctx.item.node) {
            Ok(resolve_fields(ctx, &self.0).await)
        } else {
            self.0.resolve(ctx, field).await
        }
    }
}

/// A list of objects resolved one after another, each in place, when the selection allows;
/// `[T!]!` in the schema, as `Vec<T>` is.
pub struct InPlaceList<T>(pub Vec<T>);

impl<T: InMemory> OutputType for InPlaceList<T> {
    fn type_name() -> Cow<'static, str> {
        Vec::<T>::type_name()
    }

    fn qualified_type_name() -> String {
        Vec::<T>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        Vec::<T>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        if !in_memory::<T>(&ctx.item.node) {
            return self.0.resolve(ctx, field).await;
        }
        let mut items = Vec::with_capacity(self.0.len());
        for (idx, item) in self.0.iter().enumerate() {
            items.push(resolve_fields(&ctx.with_index(idx), item).await);
        }
        Ok(Value::List(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_built_with_kept_hashes_are_maps_like_any_other() {
        // More keys than are kept, each inserted in three maps, one key twice in each.
        let keys: Vec<Name> = (0..HASHES_KEPT * 2)
            .map(|i| Name::new(format!("field{i}")))
            .collect();
        for round in 0..3 {
            let mut map = IndexMap::with_capacity_and_hasher(keys.len(), HASHER.clone());
            for (i, key) in keys.iter().enumerate() {
                insert(&mut map, key.clone(), Value::from(i as i32));
            }
            insert(&mut map, keys[3].clone(), Value::from(-round));
            let expected: IndexMap<Name, Value> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    let v = if i == 3 { -round } else { i as i32 };
                    (k.clone(), Value::from(v))
                })
                .collect();
            // The same entries in the same order, and every key found by a lookup.
            assert!(map.iter().eq(expected.iter()), "round {round}");
            for (i, key) in keys.iter().enumerate() {
                assert_eq!(map.get_index_of(key), Some(i));
                assert_eq!(map.get(key.as_str()), expected.get(key));
            }
        }
    }
}
