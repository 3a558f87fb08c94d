//! containerd's filter language, as used by `List` calls and event
//! subscriptions.
//!
//! A filter string is a comma-separated list of selectors that must all
//! match; several filter strings given together match when any one does.
//! A selector is a field path, optionally followed by an operator and a
//! value:
//!
//! * `labels.foo` — the field is present;
//! * `name==foo` — present and equal;
//! * `name!=foo` — not equal (an absent field counts as `""`);
//! * `name~=^foo` — the regular expression matches somewhere in the value
//!   (an absent field counts as `""`).
//!
//! Path elements are identifiers (`[A-Za-z0-9_]+`) or double-quoted strings,
//! as in `labels."com.example.key"`. Values are bare words (no spaces or
//! commas) or double-quoted strings with Go escapes; after `~=` a value may
//! also be quoted as `/…/` or `|…|`.
//!
//! A malformed filter is an `InvalidArgument` error worded like containerd's,
//! `filters: parse error: [before >|c|< after]: reason`, with `>|<` placed
//! at the end of the input when that is where the problem is, and with
//! ` (at byte N)` appended.
//!
//! This follows containerd 1.6 except that a bad regular expression is
//! rejected when parsing instead of silently matching nothing, and that
//! patterns use the `regex` crate's syntax (RE2-like, but `\d`, `\w`, `\s`
//! and `\b` are Unicode-aware).

mod adaptor;
mod parser;
mod quote;
mod scanner;
mod selector;

use std::str::FromStr;

pub use adaptor::{Adaptor, AdaptorFn, FieldsAdaptor, adaptor_fn, label_field};

use crate::Error;
use selector::Selector;

/// A parsed filter: the OR of one or more filter strings, each the AND of
/// its selectors.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Never empty; an empty conjunction matches everything.
    any: Vec<Vec<Selector>>,
}

impl Filter {
    /// A filter that matches every object.
    pub fn always() -> Filter {
        Filter { any: vec![vec![]] }
    }

    /// Parses one filter string; the empty string matches everything.
    ///
    /// A malformed filter is an `InvalidArgument` error whose message shows
    /// the input with `>|…|<` around the offending character and its byte
    /// offset.
    pub fn parse(s: &str) -> Result<Filter, Error> {
        if s.is_empty() {
            return Ok(Filter::always());
        }
        let all = parser::parse(s).map_err(|e| Error::invalid_argument(e.to_string()))?;
        Ok(Filter { any: vec![all] })
    }

    /// Parses several filter strings, any of which may match. No strings,
    /// or any empty string among them, matches everything.
    pub fn parse_all<I>(filters: I) -> Result<Filter, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut any = Vec::new();
        for s in filters {
            any.extend(Filter::parse(s.as_ref())?.any);
        }
        if any.is_empty() || any.iter().any(Vec::is_empty) {
            return Ok(Filter::always());
        }
        Ok(Filter { any })
    }

    /// Whether this filter matches every object without looking at it.
    pub fn is_always(&self) -> bool {
        self.any.iter().any(Vec::is_empty)
    }

    /// Whether the object behind `adaptor` passes the filter.
    pub fn matches(&self, adaptor: &dyn Adaptor) -> bool {
        self.any
            .iter()
            .any(|all| all.iter().all(|s| s.matches(adaptor)))
    }
}

impl Default for Filter {
    /// [`Filter::always`].
    fn default() -> Self {
        Filter::always()
    }
}

impl FromStr for Filter {
    type Err = Error;

    /// [`Filter::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

#[cfg(test)]
mod tests;
