//! Filter-level tests, including containerd's `filter_test.go` corpus.

use std::collections::HashMap;

use super::*;
use crate::ErrorKind;

struct Entry {
    name: &'static str,
    other: &'static str,
    labels: HashMap<String, String>,
}

impl Adaptor for Entry {
    fn field(&self, path: &[String]) -> Option<String> {
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        match path.first()?.as_str() {
            "name" => nonempty(self.name),
            "other" => nonempty(self.other),
            "labels" => self.labels.get(&path[1..].join(".")).cloned(),
            _ => None,
        }
    }
}

fn entry(name: &'static str, other: &'static str, labels: &[(&str, &str)]) -> Entry {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Entry {
        name,
        other,
        labels,
    }
}

fn corpus() -> Vec<Entry> {
    vec![
        entry("foo", "", &[("foo", "true")]),
        entry("bar", "", &[]),
        entry(
            "foo",
            "",
            &[("foo", "present"), ("more complex label", "present")],
        ),
        entry("bar", "", &[("bar", "true")]),
        entry(
            "fooer",
            "",
            &[("more complex label with \\ and \"", "present")],
        ),
        entry(
            "fooer",
            "",
            &[("more complex label with \\ and \".post", "present")],
        ),
        entry("baz", "too complex, yo", &[]),
        entry("bazo", "abc", &[]),
        entry("compound", "", &[("foo", "omg_asdf.asdf-qwer")]),
    ]
}

fn selected(filter: &Filter) -> Vec<usize> {
    corpus()
        .iter()
        .enumerate()
        .filter(|(_, e)| filter.matches(*e))
        .map(|(i, _)| i)
        .collect()
}

fn run(input: &str) -> Vec<usize> {
    match Filter::parse(input) {
        Ok(f) => selected(&f),
        Err(e) => panic!("{input:?}: {e}"),
    }
}

const ALL: [usize; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 8];

#[test]
fn containerd_corpus() {
    for (input, want) in [
        ("", &ALL[..]),
        ("name", &ALL[..]),
        ("labels.foo", &[0, 2, 8][..]),
        ("labels.foo,name", &[0, 2, 8]),
        ("labels.foo==true", &[0]),
        ("labels.foo==omg_asdf.asdf-qwer", &[8]),
        ("name==bar", &[1, 3]),
        ("name!=bar", &[0, 2, 4, 5, 6, 7, 8]),
        ("name==bar,labels.bar", &[3]),
        (r#"other=="too complex, yo""#, &[6]),
        ("other~=[abc]+,name!=foo", &[6, 7]),
        ("other~=/[abc]+/,name!=foo", &[6, 7]),
        ("other~=/[abc]{1,2}/,name!=foo", &[6, 7]),
        (r#"other~=/[abc]{0,1}"\//,name!=foo"#, &[]),
        ("name==bar,labels.bar==true", &[3]),
        ("name==bar,labels.bar==wrong", &[]),
        (r#"name==foo,labels."more complex label""#, &[2]),
        (
            r#"labels."more complex label with \\ and \""==present"#,
            &[4],
        ),
        (
            r#"labels."more complex label with \\ and \"".post==present"#,
            &[5],
        ),
    ] {
        assert_eq!(run(input), want, "{input:?}");
    }
}

#[test]
fn absent_fields_compare_as_empty() {
    // containerd: `!=` and `~=` do not test presence.
    assert_eq!(run("labels.foo!=true"), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(run("other~=^$"), [0, 1, 2, 3, 4, 5, 8]);
    assert_eq!(run("other!=abc,other"), [6]);
    // `==` does.
    assert_eq!(run(r#"other=="""#), Vec::<usize>::new());
}

#[test]
fn values_quoting_and_spacing() {
    assert_eq!(run(r#"name=="fo\x6f""#), [0, 2]);
    assert_eq!(run(r#"name=="\u0062ar""#), [1, 3]);
    assert_eq!(run("name~=|^ba[rz]$|"), [1, 3, 6]);
    assert_eq!(run(r"name~=/^fo\/?o$/"), [0, 2]);
    assert_eq!(run(r"name~=^bazo?\z"), [6, 7]);
    assert_eq!(run("labels.foo~=^omg"), [8]);
    assert_eq!(run(" name == bar, labels.bar"), [3]);
    // Like containerd, white space is skipped before a token but not
    // before `,` or the end of input.
    assert!(Filter::parse("name==bar ,labels.bar").is_err());
    assert!(Filter::parse("name==bar ").is_err());
    assert_eq!(run(r#""name"==bar"#), [1, 3]);
}

#[test]
fn parse_all_ors_and_empties() -> crate::Result<()> {
    let f = Filter::parse_all(["name==bar", "name==baz"])?;
    assert_eq!(selected(&f), [1, 3, 6]);
    let f = Filter::parse_all(vec!["labels.foo==true".to_string(), "other".to_string()])?;
    assert_eq!(selected(&f), [0, 6, 7]);
    let f = Filter::parse_all(&["name==bar".to_string(), String::new()])?;
    assert!(f.is_always());
    assert_eq!(selected(&f), ALL);
    let f = Filter::parse_all::<[&str; 0]>([])?;
    assert!(f.is_always());
    assert_eq!(selected(&f), ALL);
    assert!(Filter::parse_all([""])?.is_always());
    assert!(Filter::default().is_always());
    assert!(!Filter::parse("name")?.is_always());
    let f: Filter = "name==bar".parse()?;
    assert_eq!(selected(&f), [1, 3]);
    Ok(())
}

#[test]
fn errors_are_invalid_argument_with_position() {
    for (filters, want) in [
        (
            &["labels.foo=="][..],
            "filters: parse error: [labels.foo== >|<]: expected value or quoted (at byte 12)",
        ),
        (
            &["name==bar", r#"labels."foo==x"#],
            r#"filters: parse error: [labels. >|"|< foo==x]: quoted literal not terminated (at byte 7)"#,
        ),
        (
            &["name==foo,"],
            "filters: parse error: [name==foo, >|<]: expected field or quoted (at byte 10)",
        ),
        (
            &["name~=a)"],
            r#"filters: parse error: [name~= >|a|< )]: invalid regular expression "a)": unopened group (at byte 6)"#,
        ),
        (
            &["name=bar"],
            r#"filters: parse error: [name >|=|< bar]: unsupported operator "=" (at byte 4)"#,
        ),
    ] {
        let err = match Filter::parse_all(filters) {
            Ok(f) => panic!("{filters:?} parsed as {f:?}"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{filters:?}");
        assert_eq!(err.message(), want, "{filters:?}");
        assert_eq!(err.to_string(), format!("{want}: invalid argument"));
    }
    let err = Filter::parse("name==foo bar").map(|_| ()).err();
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::InvalidArgument));
}

#[test]
fn label_keys_with_dots() -> crate::Result<()> {
    let labels = HashMap::from([("com.example.key".to_string(), "x".to_string())]);
    let obj = FieldsAdaptor::new()
        .with_field("name", "n")
        .with_map("labels", &labels);
    for input in [
        r#"labels."com.example.key"==x"#,
        "labels.com.example.key==x",
        r#"labels.com."example.key""#,
        r#"labels."com.example.key"~=/^x$/"#,
    ] {
        assert!(Filter::parse(input)?.matches(&obj), "{input:?}");
    }
    for input in [
        "labels.com.example",
        "labels.com.example.key==y",
        r#"labels."com.example.key"!=x"#,
        "labels",
    ] {
        assert!(!Filter::parse(input)?.matches(&obj), "{input:?}");
    }
    Ok(())
}

#[test]
fn closure_adaptor_and_always() -> crate::Result<()> {
    let a = adaptor_fn(|p: &[String]| match p {
        [only] if only == "id" => Some("abc".to_string()),
        _ => None,
    });
    assert!(Filter::always().matches(&a));
    assert!(Filter::parse("id~=b")?.matches(&a));
    assert!(!Filter::parse("id.x")?.matches(&a));
    Ok(())
}
