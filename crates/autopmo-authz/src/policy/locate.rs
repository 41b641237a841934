//! Finds where a node of a YAML document starts.
//!
//! `yaml_serde` keeps no positions in its `Value`, but it attaches the
//! position of the node being read to any error a `Deserialize` returns.
//! So to find `policies[2].subjects.roles[1]` we deserialize the document
//! once more with a probe that walks down that path and fails exactly at
//! that node; the error's location is the node's. Only used on errors.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

const HIT: &str = "autopmo-authz probe";

/// The 1-based (line, column) where the node at `path` starts — or, with
/// `at_key`, where the last key of `path` is written.
pub(crate) fn locate(yaml: &str, path: &[Seg], at_key: bool) -> Option<(usize, usize)> {
    let de = yaml_serde::Deserializer::from_str(yaml);
    match (Probe { path, at_key }).deserialize(de) {
        Err(e) if e.to_string().contains(HIT) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

struct Probe<'a> {
    path: &'a [Seg],
    at_key: bool,
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.path.is_empty() { d.deserialize_any(Fail) } else { d.deserialize_any(self) }
    }
}

macro_rules! scalars {
    ($ret:ty; $($method:ident: $ty:ty),*) => {
        $(fn $method<E: de::Error>(self, _: $ty) -> Result<$ret, E> { self.result() })*
        fn visit_unit<E: de::Error>(self) -> Result<$ret, E> { self.result() }
        fn visit_none<E: de::Error>(self) -> Result<$ret, E> { self.result() }
    };
}

/// What a visitor answers for a scalar.
trait Outcome<T>: Sized {
    fn result<E: de::Error>(self) -> Result<T, E>;
}

impl Outcome<()> for Probe<'_> {
    /// A scalar where the path goes on: the node is not there.
    fn result<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    scalars!((); visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (Some(Seg::Index(want)), rest) = (self.path.first(), self.path.get(1..).unwrap_or_default()) else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut i = 0;
        loop {
            let more = if i == *want {
                seq.next_element_seed(Probe { path: rest, at_key: self.at_key })?.is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (Some(Seg::Key(want)), rest) = (self.path.first(), self.path.get(1..).unwrap_or_default()) else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let fail_on_key = rest.is_empty() && self.at_key;
        while let Some(found) = map.next_key_seed(KeyProbe { want, fail: fail_on_key })? {
            if found {
                map.next_value_seed(Probe { path: rest, at_key: self.at_key })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Reads a mapping key: whether it is the one wanted (and fails there when asked).
struct KeyProbe<'a> {
    want: &'a str,
    fail: bool,
}

impl<'de> DeserializeSeed<'de> for KeyProbe<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl Outcome<bool> for KeyProbe<'_> {
    fn result<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

impl<'de> Visitor<'de> for KeyProbe<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    scalars!(bool; visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64);

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        match key == self.want {
            true if self.fail => Err(E::custom(HIT)),
            found => Ok(found),
        }
    }
}

/// Fails on whatever node it is given: the error carries that node's position.
struct Fail;

impl Outcome<()> for Fail {
    fn result<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(HIT))
    }
}

impl<'de> Visitor<'de> for Fail {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    scalars!((); visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(HIT))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(HIT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
policies:
  - name: a
    subjects:
      roles: [x, \"y\"]
  - name: b
    conditions:
      - user.id == 'x'
";

    fn k(s: &str) -> Seg {
        Seg::Key(s.into())
    }

    #[test]
    fn finds_nodes_and_keys() {
        assert_eq!(locate(DOC, &[k("policies")], false), Some((2, 3)));
        assert_eq!(locate(DOC, &[k("policies"), Seg::Index(1)], false), Some((5, 5)));
        let roles = [k("policies"), Seg::Index(0), k("subjects"), k("roles"), Seg::Index(1)];
        assert_eq!(locate(DOC, &roles, false), Some((4, 18)));
        assert_eq!(locate(DOC, &[k("policies"), Seg::Index(1), k("conditions")], true), Some((6, 5)));
        let cond = [k("policies"), Seg::Index(1), k("conditions"), Seg::Index(0)];
        assert_eq!(locate(DOC, &cond, false), Some((7, 9)));
        assert_eq!(locate(DOC, &[k("policies"), Seg::Index(5)], false), None);
        assert_eq!(locate(DOC, &[k("nope")], true), None);
    }
}
