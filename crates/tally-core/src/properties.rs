//! An event's properties, kept as the JSON object text they are stored as.
//!
//! Parsing every event's properties into a `serde_json::Map` (a tree node, a key
//! and most values allocated one by one), serializing that map twice (spool frame
//! and store column) and freeing it again on another thread cost about a fifth of
//! the server's CPU per event on the ingest path. Here the text is read once,
//! written compactly, and indexed by key; the spool and the store write the text
//! as it is.
//!
//! Guarantees:
//! - [`Properties::json`] is one JSON object, compact between its members, with
//!   each key once: the last one sent wins, as when parsed into a map. Keys are
//!   escaped as `serde_json` writes them, so the same key is always the same text.
//! - What it holds is what `serde_json` accepts as a value (a number out of range or
//!   a lone surrogate is refused, as before): the store can always read it as JSON.
//!   Strings and numbers are kept as sent; a nested object or array is written as
//!   `serde_json` writes it.
//! - Looking a key up is a check of a bloom word (most keys looked up are absent),
//!   then a binary search comparing 4-byte key prefixes as integers; nothing is
//!   parsed into a tree unless asked for ([`Properties::get`], [`Properties::to_map`]).

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::fmt;

/// Where one member sits in the text: its key between `key_start` and `key_end`
/// (without the quotes), its value from `key_end + 2` (after `":`) to `value_end`.
/// `prefix` is the key's first 4 bytes, so most comparisons are of two integers.
#[derive(Debug, Clone, Copy)]
struct Member {
    prefix: u32,
    key_start: u32,
    key_end: u32,
    value_end: u32,
}

/// A key's first 4 bytes as a big-endian integer, zero-padded: integers compare as
/// the bytes do, and a key's text never holds a zero byte (it would be escaped),
/// so a shorter key is smaller, as in byte order.
fn prefix_of(key: &[u8]) -> u32 {
    if let Some(first) = key.first_chunk::<PREFIX>() {
        return u32::from_be_bytes(*first);
    }
    let mut bytes = [0u8; PREFIX];
    bytes[..key.len()].copy_from_slice(key);
    u32::from_be_bytes(bytes)
}

/// Bytes of a key held in its [`Member`].
const PREFIX: usize = 4;

/// A key text's bit in [`Properties::bloom`], from its length and two of its bytes
/// (constant time, whatever the key's length).
fn bloom_bit(key: &[u8]) -> u64 {
    let n = key.len();
    let (last, middle) = match n {
        0 => (0, 0),
        _ => (key[n - 1], key[n / 2]),
    };
    let mixed =
        (n as u32 ^ (u32::from(last) << 8) ^ (u32::from(middle) << 16)).wrapping_mul(0x9E37_79B1);
    1 << (mixed >> 26)
}

/// Byte order of two keys' texts given with their prefixes.
fn compare_keys(a_prefix: u32, a: &[u8], b_prefix: u32, b: &[u8]) -> std::cmp::Ordering {
    // Equal prefixes: both keys are the same up to 4 bytes, and both at most 4
    // bytes long (then equal) or both longer (then their tails decide).
    a_prefix.cmp(&b_prefix).then_with(|| {
        a.get(PREFIX..)
            .unwrap_or(&[])
            .cmp(b.get(PREFIX..).unwrap_or(&[]))
    })
}

impl Member {
    fn key(self) -> std::ops::Range<usize> {
        self.key_start as usize..self.key_end as usize
    }
    fn value(self) -> std::ops::Range<usize> {
        self.key_end as usize + 2..self.value_end as usize
    }
}

/// Members held in place: what the load generator's events carry once the pipeline
/// added `$ip_hash`, `$host` and `$channel_type`; a typical server-side event.
const INLINE_MEMBERS: usize = 6;

/// Bytes of text reserved beyond what was received, see [`Properties::from_json`].
const ROOM_FOR_ENRICHMENT: usize = 160;

/// An event's properties: a JSON object as text, indexed by key.
#[derive(Clone, Default)]
pub struct Properties {
    /// The object's text; empty for an empty object (so `new` allocates nothing).
    text: String,
    /// The members, sorted by key; held in place up to [`INLINE_MEMBERS`], so the
    /// store's pass over a large batch (out of the CPU's cache) finds them beside
    /// the event rather than in an allocation of their own.
    members: SmallVec<[Member; INLINE_MEMBERS]>,
    /// One bit per key ([`bloom_bit`]): most keys looked up are absent (`$ip`,
    /// click ids, `$set`, …), and a clear bit answers that without a search.
    bloom: u64,
}

/// Why a text could not become properties.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertiesError {
    #[error("not a JSON object")]
    NotAnObject,
    #[error("invalid JSON: {0}")]
    Invalid(String),
}

impl Properties {
    pub fn new() -> Self {
        Self::default()
    }

    /// Properties from a JSON object's text (anything `serde_json` reads; nothing is
    /// assumed about its spacing, key escapes or repeated keys).
    pub fn from_json(text: &str) -> Result<Self, PropertiesError> {
        if u32::try_from(text.len()).is_err() {
            return Err(PropertiesError::Invalid("properties over 4 GiB".into()));
        }
        let mut reader = serde_json::Deserializer::from_str(text);
        // Room for what the pipeline adds to most events (`$ip_hash`, `$host`,
        // `$channel_type`) without growing the text or the index again.
        let mut out = Self {
            text: String::with_capacity(text.len() + ROOM_FOR_ENRICHMENT),
            members: SmallVec::new(),
            bloom: 0,
        };
        let is_object = serde::Deserializer::deserialize_any(&mut reader, Reader(&mut out))
            .map_err(|e| PropertiesError::Invalid(e.to_string()))?;
        reader
            .end()
            .map_err(|e| PropertiesError::Invalid(e.to_string()))?;
        if !is_object {
            return Err(PropertiesError::NotAnObject);
        }
        out.finish_reading();
        Ok(out)
    }

    /// Properties holding what `map` holds.
    pub fn from_map(map: &Map<String, Value>) -> Self {
        let mut out = Self::default();
        for (key, value) in map {
            let value = serde_json::to_string(value).expect("a JSON value always serializes");
            out.insert_json(key, &value);
        }
        out
    }

    /// The object as JSON text.
    pub fn json(&self) -> &str {
        if self.text.is_empty() {
            "{}"
        } else {
            &self.text
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_some()
    }

    /// A member's value as JSON text.
    pub fn get_json(&self, key: &str) -> Option<&str> {
        let at = self.find(key)?;
        Some(&self.text[self.members[at].value()])
    }

    /// A member's value, parsed.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.get_json(key)
            .map(|json| serde_json::from_str(json).expect("a member's text is JSON"))
    }

    /// A member's value when it is a string; borrowed unless it has escapes.
    pub fn get_str(&self, key: &str) -> Option<Cow<'_, str>> {
        string_of(self.get_json(key)?)
    }

    /// Sets `key` to the value whose JSON text is `value` (trusted to be JSON, as
    /// the callers' own serializations are), replacing any value it had.
    fn insert_json(&mut self, key: &str, value: &str) {
        self.insert_text(key, value, false);
    }

    /// Sets `key` to `value`: JSON text, or (`quoted`) a string's characters that
    /// need no escaping, written between quotes here so that the pipeline's own
    /// values (`$host`, `$channel_type`, …) cost no buffer of their own.
    fn insert_text(&mut self, key: &str, value: &str, quoted: bool) {
        let escaped = escaped_key(key);
        // Where the key goes in the index: where it was, if it was there.
        let at = match self.search(escaped.as_bytes()) {
            Ok(at) => {
                self.remove_at(at);
                at
            }
            Err(at) => at,
        };
        // Grown by a quarter rather than doubled: a large event's text doubled for
        // one added key would take twice its size until it is stored.
        let needed = escaped.len() + value.len() + 7;
        if self.text.capacity() - self.text.len() < needed {
            let grow = needed.max(self.text.len() / 4).max(ROOM_FOR_ENRICHMENT);
            self.text.reserve_exact(grow);
        }
        if self.text.is_empty() {
            self.text.push('{');
        } else {
            self.text.pop();
            self.text.push(',');
        }
        self.text.push('"');
        let key_start = self.text.len();
        self.text.push_str(&escaped);
        let key_end = self.text.len();
        self.text.push_str("\":");
        if quoted {
            self.text.push('"');
            self.text.push_str(value);
            self.text.push('"');
        } else {
            self.text.push_str(value);
        }
        let member = Member {
            prefix: prefix_of(escaped.as_bytes()),
            key_start: offset(key_start),
            key_end: offset(key_end),
            value_end: offset(self.text.len()),
        };
        self.text.push('}');
        self.bloom |= bloom_bit(escaped.as_bytes());
        self.members.insert(at, member);
    }

    /// Sets `key` to `value`, replacing any value it had (`Map::insert`'s
    /// signature, for code written against a map; [`Properties::insert_str`]
    /// writes a string without serializing it apart first).
    pub fn insert(&mut self, key: String, value: Value) {
        let json = serde_json::to_string(&value).expect("a JSON value always serializes");
        self.insert_json(&key, &json);
    }

    /// Sets `key` to the string `value`, replacing any value it had.
    pub fn insert_str(&mut self, key: &str, value: &str) {
        if needs_escaping(value) {
            let json = serde_json::to_string(value).expect("a string always serializes");
            self.insert_json(key, &json);
        } else {
            self.insert_text(key, value, true);
        }
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        self.remove_escaped(&escaped_key(key))
    }

    fn remove_escaped(&mut self, escaped: &str) -> bool {
        let Some(at) = self.find_escaped(escaped) else {
            return false;
        };
        self.remove_at(at);
        true
    }

    /// Removes the member at `at` in the index from the text and the index.
    fn remove_at(&mut self, at: usize) {
        let gone = self.members.remove(at);
        if self.members.is_empty() {
            self.text.clear();
            self.bloom = 0;
            return;
        }
        // The member's text with one comma: the one before it, or after it when
        // it is the first member.
        let mut start = gone.key_start as usize - 1;
        let mut end = gone.value_end as usize;
        if start > 1 {
            start -= 1;
        } else {
            end += 1;
        }
        self.text.replace_range(start..end, "");
        let shift = offset(end - start);
        for m in &mut self.members {
            if m.key_start > gone.key_start {
                m.key_start -= shift;
                m.key_end -= shift;
                m.value_end -= shift;
            }
        }
        let text = self.text.as_bytes();
        self.bloom = self
            .members
            .iter()
            .fold(0, |bloom, m| bloom | bloom_bit(&text[m.key()]));
    }

    /// The members as (key, value as JSON text), in key order.
    pub fn iter(&self) -> impl Iterator<Item = (Cow<'_, str>, &str)> + '_ {
        self.members.iter().map(|m| {
            let key = &self.text[m.key()];
            let key = if key.contains('\\') {
                Cow::Owned(
                    serde_json::from_str::<String>(
                        &self.text[m.key_start as usize - 1..=m.key_end as usize],
                    )
                    .expect("a key's text is a JSON string"),
                )
            } else {
                Cow::Borrowed(key)
            };
            (key, &self.text[m.value()])
        })
    }

    /// The members parsed into a map.
    pub fn to_map(&self) -> Map<String, Value> {
        self.iter()
            .map(|(k, v)| {
                let v = serde_json::from_str(v).expect("a member's text is JSON");
                (k.into_owned(), v)
            })
            .collect()
    }

    /// Roughly the bytes this holds: its text and index, counted by length as the
    /// event's other strings are (the capture queue's byte budget adds a fixed
    /// amount per event for what is allocated beyond).
    pub fn approx_size(&self) -> usize {
        self.text.len() + self.members.len() * std::mem::size_of::<Member>()
    }

    /// The member with key text `escaped`.
    fn find_escaped(&self, escaped: &str) -> Option<usize> {
        let key = escaped.as_bytes();
        if self.bloom & bloom_bit(key) == 0 {
            return None;
        }
        self.search(key).ok()
    }

    fn find(&self, key: &str) -> Option<usize> {
        self.find_escaped(&escaped_key(key))
    }

    /// Binary search of the index for the key text `key`: where it is, or where it
    /// would go.
    fn search(&self, key: &[u8]) -> Result<usize, usize> {
        let prefix = prefix_of(key);
        let text = self.text.as_bytes();
        self.members
            .binary_search_by(|m| compare_keys(m.prefix, &text[m.key()], prefix, key))
    }

    /// After reading: the index sorted, and a key sent twice kept once (its last
    /// value), as a map would.
    fn finish_reading(&mut self) {
        let text = &self.text;
        self.members.sort_by(|a, b| {
            let (a_key, b_key) = (text[a.key()].as_bytes(), text[b.key()].as_bytes());
            compare_keys(a.prefix, a_key, b.prefix, b_key).then(a.key_start.cmp(&b.key_start))
        });
        debug_assert!(self
            .members
            .iter()
            .all(|m| m.prefix == prefix_of(text[m.key()].as_bytes())));
        let repeated = self
            .members
            .windows(2)
            .any(|w| text[w[0].key()] == text[w[1].key()]);
        if repeated {
            // Rare: rebuilt from the last value of each key.
            let mut last: Vec<(String, String)> = Vec::new();
            for m in &self.members {
                let key = text[m.key()].to_owned();
                let value = text[m.value()].to_owned();
                match last.last_mut() {
                    Some((k, v)) if *k == key => *v = value,
                    _ => last.push((key, value)),
                }
            }
            let mut rebuilt = Self::default();
            for (escaped, value) in &last {
                let key: String = serde_json::from_str(&format!("\"{escaped}\""))
                    .expect("a key's text is a JSON string");
                rebuilt.insert_json(&key, value);
            }
            *self = rebuilt;
        }
    }
}

fn offset(n: usize) -> u32 {
    u32::try_from(n).expect("properties are under 4 GiB")
}

/// `key` as it appears between the quotes of a JSON string written by serde_json.
fn escaped_key(key: &str) -> Cow<'_, str> {
    if needs_escaping(key) {
        let quoted = serde_json::to_string(key).expect("a string always serializes");
        Cow::Owned(quoted[1..quoted.len() - 1].to_owned())
    } else {
        Cow::Borrowed(key)
    }
}

/// Whether a string has characters serde_json escapes in JSON (a quote, a
/// backslash, a control character): otherwise its JSON text is itself in quotes.
fn needs_escaping(s: &str) -> bool {
    s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)
}

/// The type of a property value given as its JSON text (as [`Properties`]
/// holds it), as definitions show it: `String`, `Numeric`, `Boolean`,
/// `DateTime` (RFC 3339 text), `Object` or `Array`; `None` for null.
pub fn type_of(json: &str) -> Option<&'static str> {
    Some(match json.as_bytes().first()? {
        b'n' => return None,
        b't' | b'f' => "Boolean",
        b'"' => match string_of(json) {
            Some(s) if chrono::DateTime::parse_from_rfc3339(&s).is_ok() => "DateTime",
            _ => "String",
        },
        b'[' => "Array",
        b'{' => "Object",
        _ => "Numeric",
    })
}

/// The string a JSON value's text holds, if it is a string.
pub fn string_of(json: &str) -> Option<Cow<'_, str>> {
    let inner = json.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(json).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// Reads an object's members into [`Properties`] (compact, keys canonical); any
/// other JSON value is read and answered `false`.
struct Reader<'p>(&'p mut Properties);

impl<'de> serde::de::Visitor<'de> for Reader<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let out = self.0;
        out.text.push('{');
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let raw: &RawValue = map.next_value()?;
            if !out.members.is_empty() {
                out.text.push(',');
            }
            let key_start = out.text.len() + 1;
            match &key {
                Cow::Borrowed(k) => {
                    out.text.push('"');
                    out.text.push_str(k);
                    out.text.push('"');
                }
                Cow::Owned(k) => {
                    let quoted = serde_json::to_string(k).expect("a string always serializes");
                    out.text.push_str(&quoted);
                }
            }
            let key_end = out.text.len() - 1;
            out.text.push(':');
            write_value(&mut out.text, raw.get()).map_err(serde::de::Error::custom)?;
            out.bloom |= bloom_bit(&out.text.as_bytes()[key_start..key_end]);
            out.members.push(Member {
                prefix: prefix_of(&out.text.as_bytes()[key_start..key_end]),
                key_start: offset(key_start),
                key_end: offset(key_end),
                value_end: offset(out.text.len()),
            });
        }
        if out.members.is_empty() {
            out.text.clear();
        } else {
            out.text.push('}');
        }
        Ok(true)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// Writes one member's value (its JSON text as sent, already known to be JSON
/// syntax), refusing what a `serde_json::Value` would refuse.
fn write_value(out: &mut String, raw: &str) -> Result<(), String> {
    match raw.as_bytes()[0] {
        // Plain strings (no escapes) and the literals are kept as sent.
        b'"' if !raw.contains('\\') => out.push_str(raw),
        b't' | b'f' | b'n' => out.push_str(raw),
        b'"' => {
            // An escape may be a lone surrogate, which a string cannot hold.
            let s: String = serde_json::from_str(raw).map_err(|e| e.to_string())?;
            out.push_str(&serde_json::to_string(&s).expect("a string always serializes"));
        }
        b'{' | b'[' => {
            let v: Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
            out.push_str(&serde_json::to_string(&v).expect("a JSON value always serializes"));
        }
        _ => {
            // A number: an exponent or hundreds of digits may be out of range.
            if raw.len() > 300 || raw.contains(['e', 'E']) {
                let n: f64 = raw.parse().map_err(|_| format!("invalid number {raw}"))?;
                if !n.is_finite() {
                    return Err(format!("number out of range: {raw}"));
                }
            }
            out.push_str(raw);
        }
    }
    Ok(())
}

/// A key, borrowed from the text when it has no escapes.
struct KeySeed;

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s))
    }
}

impl PartialEq for Properties {
    /// The same keys with the same values' text.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.members.iter().zip(&other.members).all(|(a, b)| {
                self.text[a.key()] == other.text[b.key()]
                    && self.text[a.value()] == other.text[b.value()]
            })
    }
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.json())
    }
}

impl From<Map<String, Value>> for Properties {
    fn from(map: Map<String, Value>) -> Self {
        Self::from_map(&map)
    }
}

impl serde::Serialize for Properties {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(self.json()).expect("properties are JSON");
        serde::Serialize::serialize(raw, s)
    }
}

impl<'de> serde::Deserialize<'de> for Properties {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <Map<String, Value> as serde::Deserialize>::deserialize(d).map(|m| Self::from_map(&m))
    }
}

#[cfg(test)]
mod tests;
