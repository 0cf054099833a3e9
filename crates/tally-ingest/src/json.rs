//! JSON reading shared by every decoder. Guarantees:
//! - A body is split into its events without building one tree of the whole body
//!   and without a nesting limit, so one pathological event (10,000 levels deep,
//!   say) fails alone and its neighbours are kept.
//! - Invalid UTF-8 never fails a body: such bytes become U+FFFD, as browsers do
//!   when they decode text, so the other events of the batch are kept.

use crate::DecodeError;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use tally_core::EventError;

/// Visitor methods answering `None` for every scalar (string, bool, number, null):
/// for visitors whose value is "what this container holds, if it is one".
macro_rules! scalars_are_none {
    () => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    };
}

/// The body as text; invalid UTF-8 sequences are replaced.
pub fn text(body: &[u8]) -> Cow<'_, str> {
    // Valid UTF-8 is the rule: checked by `from_utf8` (its ASCII fast path took
    // 0.2 % of a batch-100 profile where the lossy decoder's walk took 1.2 %).
    match std::str::from_utf8(body) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(body),
    }
}

/// A body's outermost value, read in one pass over the body.
pub enum TopLevel<'a> {
    Array(Vec<&'a RawValue>),
    Object(Members<'a>),
}

/// The members of a body that is an object. The list member (`batch`, `events`:
/// named by the caller) is split into its elements in the same pass; the others
/// are left as raw text.
pub struct Members<'a> {
    fields: HashMap<String, &'a RawValue>,
    /// `Some(Err)` when the list member is there but not an array.
    list: Option<Result<Vec<&'a RawValue>, DecodeError>>,
    whole: &'a str,
}

impl<'a> Members<'a> {
    /// A member other than the list, as raw text.
    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.fields.get(name).copied()
    }

    /// Whether the object has a member `name` other than the list.
    pub fn contains(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }

    /// Whether the object has the list member.
    pub fn has_list(&self) -> bool {
        self.list.is_some()
    }

    /// The list member's elements: `None` when there is none, `BatchNotArray` when
    /// it is not an array.
    pub fn take_list(&mut self) -> Option<Result<Vec<&'a RawValue>, DecodeError>> {
        self.list.take()
    }

    /// The whole object, for a body that is a single event.
    pub fn whole(&self) -> Result<&'a RawValue, DecodeError> {
        serde_json::from_str(self.whole).map_err(invalid)
    }
}

fn invalid(e: serde_json::Error) -> DecodeError {
    DecodeError::InvalidJson(e.to_string())
}

/// Reads the outermost array or object of `text`; in an object, the member named
/// `list` is split into its elements.
pub fn top_level<'a>(text: &'a str, list: &str) -> Result<TopLevel<'a>, DecodeError> {
    let trimmed = text.trim_start();
    match trimmed.as_bytes().first() {
        None => Err(DecodeError::EmptyBody),
        Some(b'[') => Ok(TopLevel::Array(
            serde_json::from_str(trimmed).map_err(invalid)?,
        )),
        Some(b'{') => {
            let mut de = serde_json::Deserializer::from_str(trimmed);
            let (fields, list) =
                serde::Deserializer::deserialize_map(&mut de, MembersVisitor { list_name: list })
                    .map_err(invalid)?;
            de.end().map_err(invalid)?;
            Ok(TopLevel::Object(Members {
                fields,
                list,
                whole: trimmed,
            }))
        }
        Some(_) => {
            // Valid JSON that is not an array or object, or not JSON at all.
            serde_json::from_str::<&RawValue>(trimmed).map_err(invalid)?;
            Err(DecodeError::NotAnObject)
        }
    }
}

type MemberParts<'a> = (
    HashMap<String, &'a RawValue>,
    Option<Result<Vec<&'a RawValue>, DecodeError>>,
);

/// Reads an object's members as raw text, and the list member as its elements.
struct MembersVisitor<'n> {
    list_name: &'n str,
}

impl<'de> serde::de::Visitor<'de> for MembersVisitor<'_> {
    type Value = MemberParts<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = HashMap::new();
        let mut list = None;
        while let Some(name) = map.next_key::<String>()? {
            if name == self.list_name {
                list = Some(match map.next_value_seed(ListSeed)? {
                    Some(items) => Ok(items),
                    None => Err(DecodeError::BatchNotArray),
                });
            } else {
                fields.insert(name, map.next_value::<&RawValue>()?);
            }
        }
        Ok((fields, list))
    }
}

/// A list member: its elements as raw text, or `None` when it is not an array
/// (read past, so what it is cannot fail the body). Elements are raw text:
/// skipping them has no nesting limit, so a deep event fails alone when it is
/// parsed.
struct ListSeed;

impl<'de> serde::de::DeserializeSeed<'de> for ListSeed {
    type Value = Option<Vec<&'de RawValue>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ListVisitor)
    }
}

struct ListVisitor;

impl<'de> serde::de::Visitor<'de> for ListVisitor {
    type Value = Option<Vec<&'de RawValue>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(Some(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, &'de RawValue>()?
            .is_some()
        {}
        Ok(None)
    }

    scalars_are_none!();
}

/// One member's value, parsed; `None` when absent or unreadable.
pub fn member(members: &Members<'_>, name: &str) -> Option<Value> {
    serde_json::from_str(members.get(name)?.get()).ok()
}

/// The members of one event named in `names`, parsed, in the order of `names`,
/// except the one at `kept` (an index into `names`, the properties): that one is
/// handed back as its text, borrowed from `raw`, to be read into its stored form
/// without building a tree. The others are read past without being kept. The event
/// must be a JSON object serde_json can read. A name given twice keeps its last
/// value, as a map would. No map is built and no member name is copied: a decoder
/// that knows its fields saves a tree and a string per member of every event.
pub fn event_members<'a, const N: usize>(
    raw: &'a RawValue,
    names: &[&str; N],
    kept: usize,
) -> Result<([Option<Value>; N], Option<&'a RawValue>), EventError> {
    let mut reader = serde_json::Deserializer::from_str(raw.get());
    match serde::Deserializer::deserialize_any(&mut reader, PickVisitor { names, kept }) {
        Ok(Some(members)) => Ok(members),
        Ok(None) => Err(EventError::NotAnObject),
        Err(e) => Err(EventError::InvalidJson(e.to_string())),
    }
}

/// Keeps the named members of an object (the `kept` one as text); `None` for any
/// other JSON value.
struct PickVisitor<'n, const N: usize> {
    names: &'n [&'n str; N],
    kept: usize,
}

impl<'de, const N: usize> serde::de::Visitor<'de> for PickVisitor<'_, N> {
    type Value = Option<([Option<Value>; N], Option<&'de RawValue>)>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut picked = [const { None }; N];
        let mut kept = None;
        while let Some(slot) = map.next_key_seed(NameSeed(self.names))? {
            match slot {
                Some(i) if i == self.kept => kept = Some(map.next_value()?),
                Some(i) => picked[i] = Some(map.next_value()?),
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(Some((picked, kept)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    scalars_are_none!();
}

/// A member name read as the position of that name in the list, `None` when it
/// is not one of them; read in place, never copied.
struct NameSeed<'n, const N: usize>(&'n [&'n str; N]);

impl<'de, const N: usize> serde::de::DeserializeSeed<'de> for NameSeed<'_, N> {
    type Value = Option<usize>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, const N: usize> serde::de::Visitor<'de> for NameSeed<'_, N> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|n| *n == name))
    }
}

/// One event: must be a JSON object that serde_json can read.
pub fn event_object(raw: &RawValue) -> Result<Map<String, Value>, EventError> {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(EventError::NotAnObject),
        Err(e) => Err(EventError::InvalidJson(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object<'a>(text: &'a str, list: &str) -> Members<'a> {
        match top_level(text, list) {
            Ok(TopLevel::Object(members)) => members,
            _ => panic!("not read as an object: {text}"),
        }
    }

    #[test]
    fn the_list_member_is_split_in_the_same_pass_and_the_others_kept_raw() {
        let mut m = object(
            r#"{"api_key":"k","batch":[{"a":1}, [[[]]], 3],"n":2}"#,
            "batch",
        );
        assert_eq!(m.get("api_key").map(RawValue::get), Some(r#""k""#));
        assert_eq!(m.get("n").map(RawValue::get), Some("2"));
        assert!(m.has_list() && !m.contains("batch"));
        let items: Vec<&str> = m
            .take_list()
            .expect("a list")
            .expect("an array")
            .iter()
            .map(|r| r.get())
            .collect();
        assert_eq!(items, [r#"{"a":1}"#, "[[[]]]", "3"]);
        assert!(object(r#"{"event":"x"}"#, "batch").take_list().is_none());
    }

    /// The members `event` and `uuid`, and `properties` kept as text.
    fn pick(text: &str) -> Result<([Option<Value>; 3], Option<String>), EventError> {
        let raw: &RawValue = serde_json::from_str(text).expect("valid JSON");
        event_members(raw, &["event", "properties", "uuid"], 1)
            .map(|(picked, kept)| (picked, kept.map(|k| k.get().to_owned())))
    }

    #[test]
    fn an_event_gives_its_named_members_in_order_and_reads_past_the_others() {
        let picked = pick(
            r#"{"other":{"deep":[1,{"event":"no"}]},"properties":{"k":[1,2]},"\u0065vent":"a","event":"b"}"#,
        )
        .expect("an object");
        // The escaped name is the same name; the later member wins, as in a map.
        assert_eq!(
            picked,
            (
                [Some(serde_json::json!("b")), None, None],
                Some(r#"{"k":[1,2]}"#.to_owned())
            )
        );
        assert_eq!(pick("{}").expect("an object"), ([None, None, None], None));
    }

    #[test]
    fn an_event_that_is_not_an_object_is_told_so() {
        for text in [
            r#"[{"event":"a"}]"#,
            r#""event""#,
            "1",
            "-1",
            "1.5",
            "true",
            "null",
        ] {
            assert_eq!(pick(text), Err(EventError::NotAnObject), "{text}");
        }
        let deep = format!("{{\"event\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(pick(&deep), Err(EventError::InvalidJson(_))));
    }

    #[test]
    fn a_list_member_that_is_not_an_array_fails_as_such_however_deep() {
        let deep = format!(
            r#"{{"batch":{}1{}}}"#,
            r#"{"a":"#.repeat(10_000),
            "}".repeat(10_000)
        );
        for body in [
            r#"{"batch":"x"}"#,
            r#"{"batch":null}"#,
            r#"{"batch":{"a":[1]}}"#,
            &deep,
        ] {
            assert!(
                matches!(
                    object(body, "batch").take_list(),
                    Some(Err(DecodeError::BatchNotArray))
                ),
                "{}",
                &body[..20.min(body.len())]
            );
        }
    }

    #[test]
    fn bodies_that_are_not_an_array_or_object_are_told_apart() {
        assert!(matches!(
            top_level(" \n", "batch"),
            Err(DecodeError::EmptyBody)
        ));
        assert!(matches!(
            top_level("3", "batch"),
            Err(DecodeError::NotAnObject)
        ));
        assert!(matches!(
            top_level("nope", "batch"),
            Err(DecodeError::InvalidJson(_))
        ));
        assert!(matches!(
            top_level(r#"{"batch":[1]} x"#, "batch"),
            Err(DecodeError::InvalidJson(_))
        ));
        assert!(matches!(
            top_level("[1,2] x", "batch"),
            Err(DecodeError::InvalidJson(_))
        ));
    }
}
