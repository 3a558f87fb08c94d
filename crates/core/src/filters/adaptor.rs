//! How a filter reads fields off an object: the [`Adaptor`] trait and
//! helpers for the usual shapes of object.

use std::borrow::Cow;
use std::collections::HashMap;

/// Exposes an object's fields to a filter.
pub trait Adaptor {
    /// The value of the field at `path` (e.g. `["labels", "foo"]`), or
    /// `None` when the object has no such field.
    fn field(&self, path: &[String]) -> Option<String>;
}

/// An [`Adaptor`] backed by a closure; build one with [`adaptor_fn`].
#[derive(Debug, Clone, Copy)]
pub struct AdaptorFn<F>(pub F);

impl<F> Adaptor for AdaptorFn<F>
where
    F: Fn(&[String]) -> Option<String>,
{
    fn field(&self, path: &[String]) -> Option<String> {
        (self.0)(path)
    }
}

/// Wraps a closure from field path to value as an [`Adaptor`].
pub fn adaptor_fn<F>(f: F) -> AdaptorFn<F>
where
    F: Fn(&[String]) -> Option<String>,
{
    AdaptorFn(f)
}

/// Resolves the rest of a `labels.<key>` path against `labels`, the way
/// containerd's metadata adaptors do: the remaining path elements are
/// joined with `.`, so `labels.com.example.key` and
/// `labels."com.example.key"` name the same label. An empty map has no
/// fields at all.
pub fn label_field(labels: &HashMap<String, String>, rest: &[String]) -> Option<String> {
    if labels.is_empty() {
        return None;
    }
    labels.get(&rest.join(".")).cloned()
}

/// An [`Adaptor`] built from a list of fields, for objects whose fields are
/// plain strings and string maps.
///
/// ```
/// # use std::collections::HashMap;
/// # use crated_core::filters::{FieldsAdaptor, Filter};
/// let labels = HashMap::from([("app".to_string(), "web".to_string())]);
/// let image = FieldsAdaptor::new()
///     .with_nonempty_field("name", "docker.io/library/nginx:latest")
///     .with_nonempty_field("target.mediatype", "")
///     .with_map("labels", &labels);
/// let filter = Filter::parse("name~=nginx,labels.app==web")?;
/// assert!(filter.matches(&image));
/// assert!(!Filter::parse("target.mediatype")?.matches(&image));
/// # Ok::<(), crated_core::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct FieldsAdaptor<'a> {
    fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    maps: Vec<(Cow<'a, str>, &'a HashMap<String, String>)>,
}

impl<'a> FieldsAdaptor<'a> {
    /// An adaptor with no fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a field at `path`, whose elements are separated by `.` (e.g.
    /// `"runtime.name"`), present with `value` even when it is empty.
    pub fn with_field(
        mut self,
        path: impl Into<Cow<'a, str>>,
        value: impl Into<Cow<'a, str>>,
    ) -> Self {
        self.fields.push((path.into(), value.into()));
        self
    }

    /// Adds a field at `path` that is present only when `value` is not
    /// empty, containerd's convention for most string fields.
    pub fn with_nonempty_field(
        self,
        path: impl Into<Cow<'a, str>>,
        value: impl Into<Cow<'a, str>>,
    ) -> Self {
        let value = value.into();
        if value.is_empty() {
            return self;
        }
        self.with_field(path, value)
    }

    /// Adds a string map (labels, annotations) under the single path element
    /// `name`, resolved with [`label_field`].
    pub fn with_map(
        mut self,
        name: impl Into<Cow<'a, str>>,
        map: &'a HashMap<String, String>,
    ) -> Self {
        self.maps.push((name.into(), map));
        self
    }
}

impl Adaptor for FieldsAdaptor<'_> {
    fn field(&self, path: &[String]) -> Option<String> {
        let (first, rest) = path.split_first()?;
        if let Some((_, map)) = self.maps.iter().find(|(name, _)| name == first) {
            return label_field(map, rest);
        }
        self.fields
            .iter()
            .find(|(p, _)| p.split('.').eq(path.iter().map(String::as_str)))
            .map(|(_, v)| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn label_keys_join_with_dots() {
        let labels = HashMap::from([
            ("com.example.key".to_string(), "v".to_string()),
            (String::new(), "empty".to_string()),
        ]);
        assert_eq!(
            label_field(&labels, &path(&["com", "example", "key"])).as_deref(),
            Some("v")
        );
        assert_eq!(
            label_field(&labels, &path(&["com.example", "key"])).as_deref(),
            Some("v")
        );
        assert_eq!(label_field(&labels, &path(&["com"])), None);
        assert_eq!(label_field(&labels, &[]).as_deref(), Some("empty"));
        assert_eq!(label_field(&HashMap::new(), &[]), None);
    }

    #[test]
    fn fields_adaptor_lookup() {
        let labels = HashMap::from([("a.b".to_string(), "c".to_string())]);
        let a = FieldsAdaptor::new()
            .with_field("id", "x")
            .with_field("runtime.name", String::from("io.containerd.runc.v2"))
            .with_nonempty_field("image", "")
            .with_field("snapshotter", "")
            .with_map("labels", &labels);
        assert_eq!(a.field(&path(&["id"])).as_deref(), Some("x"));
        assert_eq!(
            a.field(&path(&["runtime", "name"])).as_deref(),
            Some("io.containerd.runc.v2")
        );
        assert_eq!(a.field(&path(&["runtime.name"])), None);
        assert_eq!(a.field(&path(&["runtime"])), None);
        assert_eq!(a.field(&path(&["image"])), None);
        assert_eq!(a.field(&path(&["snapshotter"])).as_deref(), Some(""));
        assert_eq!(a.field(&path(&["labels", "a", "b"])).as_deref(), Some("c"));
        assert_eq!(a.field(&path(&["labels", "a.b"])).as_deref(), Some("c"));
        assert_eq!(a.field(&[]), None);
    }

    #[test]
    fn closure_adaptor() {
        let a = adaptor_fn(|p: &[String]| (p.first()?.as_str() == "name").then(|| "n".to_string()));
        assert_eq!(a.field(&path(&["name"])).as_deref(), Some("n"));
        assert_eq!(a.field(&path(&["other"])), None);
    }
}
