//! One parsed selector and how it is evaluated against an adaptor.

use regex::Regex;

use super::Adaptor;

/// What a selector checks about its field.
#[derive(Debug, Clone)]
pub(super) enum Operator {
    /// The field is present.
    Present,
    /// `==`: the field is present and equal to the value.
    Equal(Vec<u8>),
    /// `!=`: the field's value, or the empty string when absent, differs.
    NotEqual(Vec<u8>),
    /// `~=`: the regex matches somewhere in the field's value, or in the
    /// empty string when absent.
    Matches(Regex),
}

/// `<fieldpath>[<operator><value>]`.
#[derive(Debug, Clone)]
pub(super) struct Selector {
    fieldpath: Vec<String>,
    op: Operator,
}

impl Selector {
    /// A selector applying `op` to the field at `fieldpath`.
    pub(super) fn new(fieldpath: Vec<String>, op: Operator) -> Self {
        Selector { fieldpath, op }
    }

    /// The path of the field this selector looks at.
    #[cfg(test)]
    pub(super) fn fieldpath(&self) -> &[String] {
        &self.fieldpath
    }

    /// Whether the object behind `adaptor` satisfies this selector.
    ///
    /// Like containerd, `!=` and `~=` do not require the field to be
    /// present: an absent field compares as the empty string.
    pub(super) fn matches(&self, adaptor: &dyn Adaptor) -> bool {
        let field = adaptor.field(&self.fieldpath);
        match &self.op {
            Operator::Present => field.is_some(),
            Operator::Equal(want) => field.is_some_and(|v| v.as_bytes() == want.as_slice()),
            Operator::NotEqual(want) => field.unwrap_or_default().as_bytes() != want.as_slice(),
            Operator::Matches(re) => re.is_match(field.as_deref().unwrap_or("")),
        }
    }
}
