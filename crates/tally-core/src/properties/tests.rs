use super::*;
use proptest::prelude::*;
use serde_json::json;

fn read(text: &str) -> Properties {
    Properties::from_json(text).unwrap()
}

fn parsed(p: &Properties) -> Value {
    serde_json::from_str(p.json()).expect("json() is JSON")
}

#[test]
fn read_compactly_with_each_member_findable() {
    let p = read(r#" { "b" : 1 , "a":"x", "c" : [1, {"d": null}], "e": true } "#);
    assert_eq!(p.json(), r#"{"b":1,"a":"x","c":[1,{"d":null}],"e":true}"#);
    assert_eq!(p.len(), 4);
    assert_eq!(p.get("b"), Some(json!(1)));
    assert_eq!(p.get_str("a").as_deref(), Some("x"));
    assert_eq!(p.get_json("c"), Some(r#"[1,{"d":null}]"#));
    assert_eq!(p.get_str("b"), None, "not a string");
    assert!(!p.contains_key("d"), "only top-level keys");
    let keys: Vec<_> = p.iter().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(keys, ["a", "b", "c", "e"], "in key order");
}

#[test]
fn a_key_sent_twice_keeps_its_last_value() {
    let p = read(r#"{"a":1,"b":2,"a":3}"#);
    assert_eq!(p.len(), 2);
    assert_eq!(p.get("a"), Some(json!(3)));
    assert_eq!(parsed(&p), json!({"a": 3, "b": 2}));
}

#[test]
fn keys_are_compared_unescaped() {
    let p = read(r#"{"\u0061":1,"q\"uote":2}"#);
    assert_eq!(p.get("a"), Some(json!(1)));
    assert_eq!(p.get("q\"uote"), Some(json!(2)));
    assert_eq!(parsed(&p), json!({"a": 1, "q\"uote": 2}));
    let keys: Vec<_> = p.iter().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(keys, ["a", "q\"uote"]);
    // Sent escaped and plain: one key.
    assert_eq!(read(r#"{"a":1,"\u0061":2}"#).get("a"), Some(json!(2)));
}

#[test]
fn strings_and_numbers_are_checked_as_a_json_value_would_be() {
    assert_eq!(
        read(r#"{"s":"caf\u00e9"}"#).get_str("s").as_deref(),
        Some("café")
    );
    assert_eq!(
        read(r#"{"n":1.5e3,"m":-0.25}"#).get_json("n"),
        Some("1.5e3")
    );
    for bad in [
        r#"{"s":"\ud800"}"#,
        r#"{"n":1e400}"#,
        r#"{"o":{"n":-1e999}}"#,
    ] {
        assert!(
            matches!(Properties::from_json(bad), Err(PropertiesError::Invalid(_))),
            "{bad} was accepted"
        );
        assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
    }
}

#[test]
fn only_an_object_is_properties() {
    for other in ["[1,2]", "\"s\"", "3", "true", "null"] {
        assert_eq!(
            Properties::from_json(other),
            Err(PropertiesError::NotAnObject),
            "{other}"
        );
    }
    for invalid in ["{", "{\"a\":}", "{} x", ""] {
        assert!(
            matches!(
                Properties::from_json(invalid),
                Err(PropertiesError::Invalid(_))
            ),
            "{invalid}"
        );
    }
    let empty = read(" { } ");
    assert!(empty.is_empty());
    assert_eq!(empty.json(), "{}");
}

#[test]
fn removing_any_member_leaves_json_of_the_rest() {
    for gone in ["a", "b", "c"] {
        let mut p = read(r#"{"a":1,"b":"two","c":[3]}"#);
        assert!(p.remove(gone));
        assert!(!p.remove(gone), "removed twice");
        let mut expected = json!({"a": 1, "b": "two", "c": [3]});
        expected.as_object_mut().unwrap().remove(gone);
        assert_eq!(parsed(&p), expected, "without {gone}");
        assert_eq!(p.len(), 2);
    }
    let mut only = read(r#"{"a":1}"#);
    assert!(only.remove("a"));
    assert_eq!(only.json(), "{}");
    only.insert_str("b", "x");
    assert_eq!(only.json(), r#"{"b":"x"}"#);
}

#[test]
fn serializes_as_the_object_itself() {
    let p = read(r#"{"a":{"b":[1,2]},"c":"d"}"#);
    let event = json!({"properties": p});
    assert_eq!(event["properties"], json!({"a": {"b": [1, 2]}, "c": "d"}));
    let back: Properties = serde_json::from_value(json!({"c": "d", "a": {"b": [1, 2]}})).unwrap();
    assert_eq!(back, p, "equal whatever the order");
    assert_ne!(back, read(r#"{"a":{"b":[1,2]},"c":"e"}"#));
}

#[derive(Debug, Clone)]
enum Op {
    Insert(String, Value),
    InsertStr(String, String),
    Remove(String),
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("$current_url".to_owned()),
        // Keys sharing their first 4 or 8 bytes, as long as that or longer.
        Just("$current_path".to_owned()),
        Just("$current".to_owned()),
        Just("$current_".to_owned()),
        Just("$cur".to_owned()),
        Just("$curl".to_owned()),
        Just("a".to_owned()),
        Just("b\"q".to_owned()),
        Just("é".to_owned()),
        "[a-c]{1,2}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        "[a-z\"\\\\é\n]{0,6}".prop_map(Value::from),
        Just(json!({"x": [1, "y", null]})),
        Just(Value::Bool(false)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (key(), value()).prop_map(|(k, v)| Op::Insert(k, v)),
        (key(), "[a-z\"\\\\é\n]{0,6}").prop_map(|(k, v)| Op::InsertStr(k, v)),
        key().prop_map(Op::Remove),
    ]
}

proptest! {
    /// Any sequence of inserts and removes leaves what a map would hold, as JSON
    /// text that reads back to the same properties.
    #[test]
    fn behaves_as_a_map(start in prop::collection::vec((key(), value()), 0..6), ops in prop::collection::vec(op(), 0..24)) {
        let mut model: Map<String, Value> = start.into_iter().collect();
        let mut p = Properties::from_map(&model);
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    p.insert(k.clone(), v.clone());
                    model.insert(k, v);
                }
                Op::InsertStr(k, v) => {
                    p.insert_str(&k, &v);
                    model.insert(k, Value::String(v));
                }
                Op::Remove(k) => {
                    prop_assert_eq!(p.remove(&k), model.remove(&k).is_some());
                }
            }
            prop_assert_eq!(p.to_map(), model.clone());
            prop_assert_eq!(parsed(&p), Value::Object(model.clone()));
            prop_assert_eq!(p.len(), model.len());
            for (k, v) in &model {
                let got = p.get(k);
                prop_assert_eq!(got.as_ref(), Some(v));
                prop_assert_eq!(p.get_str(k).map(Cow::into_owned), v.as_str().map(str::to_owned));
            }
            let again = Properties::from_json(p.json()).unwrap();
            prop_assert_eq!(&again, &p);
        }
    }
}
