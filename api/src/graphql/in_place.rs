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

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    ContainerType, ContextSelectionSet, OutputType, Positioned, ServerResult, Value,
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

/// `root`'s fields one after another, answered as async-graphql's container resolver answers
/// them when no extension or directive is involved: a field's error is added to the response
/// and the field left out; no field at all is null.
async fn resolve_fields<T: ContainerType>(ctx: &ContextSelectionSet<'_>, root: &T) -> Value {
    let mut map = IndexMap::with_capacity(ctx.item.node.items.len());
    for selection in &ctx.item.node.items {
        let Selection::Field(field) = &selection.node else {
            continue;
        };
        let key = field.node.response_key().node.clone();
        if field.node.name.node == "__typename" {
            map.insert(
                key,
                Value::String(root.introspection_type_name().into_owned()),
            );
            continue;
        }
        match root.resolve_field(&ctx.with_field(field)).await {
            Ok(value) => {
                map.insert(key, value.unwrap_or_default());
            }
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
