//! A small reader over a JSON document that serde_json has already validated: values by
//! byte span, strings found with SIMD search for `"` and `\`, no copies, no recursion
//! beyond the document's (bounded) nesting. It never panics; malformed input ends the walk.

/// Deepest nesting walked (serde_json refuses more than 128 before this runs).
pub const MAX_DEPTH: usize = 256;

/// A JSON value's kind and span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// An object starting at the offset (its `{`).
    Object(usize),
    /// An array starting at the offset (its `[`).
    Array(usize),
    /// A string literal, quotes included.
    String(usize, usize),
    /// A number's text.
    Number(usize, usize),
    /// `true`, `false` or `null`.
    Literal,
}

/// A cursor over a JSON document.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    pub b: &'a [u8],
    pub i: usize,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, i: 0 }
    }

    /// A reader at `pos`.
    pub fn at(b: &'a [u8], pos: usize) -> Self {
        Reader { b, i: pos }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next value's kind; for strings, numbers and literals the value is consumed, for
    /// objects and arrays only their opening bracket.
    pub fn value(&mut self) -> Option<Value> {
        self.ws();
        let start = self.i;
        match self.b.get(self.i)? {
            b'{' => {
                self.i += 1;
                Some(Value::Object(start))
            }
            b'[' => {
                self.i += 1;
                Some(Value::Array(start))
            }
            b'"' => {
                let end = self.string_end()?;
                Some(Value::String(start, end))
            }
            b't' | b'f' | b'n' => {
                while self.b.get(self.i).is_some_and(u8::is_ascii_alphabetic) {
                    self.i += 1;
                }
                Some(Value::Literal)
            }
            _ => {
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    self.i += 1;
                }
                (self.i > start).then_some(Value::Number(start, self.i))
            }
        }
    }

    /// At an opening quote: moves past the closing one and returns its end.
    fn string_end(&mut self) -> Option<usize> {
        let mut j = self.i + 1;
        // Short strings (keys, enum values) end before a SIMD search would pay for itself.
        for _ in 0..16 {
            match self.b.get(j)? {
                b'"' => {
                    self.i = j + 1;
                    return Some(self.i);
                }
                b'\\' => j += 2,
                _ => j += 1,
            }
        }
        loop {
            let rest = self.b.get(j..)?;
            let k = memchr::memchr2(b'"', b'\\', rest)?;
            j += k;
            if self.b.get(j) == Some(&b'\\') {
                j += 2;
                continue;
            }
            self.i = j + 1;
            return Some(self.i);
        }
    }

    /// Inside an object (after `{` or a member's value): the next key's span, or `None` at
    /// the closing `}` (consumed).
    pub fn next_key(&mut self) -> Option<(usize, usize)> {
        self.ws();
        if self.b.get(self.i) == Some(&b',') {
            self.i += 1;
            self.ws();
        }
        match self.b.get(self.i)? {
            b'}' => {
                self.i += 1;
                None
            }
            b'"' => {
                let start = self.i;
                let end = self.string_end()?;
                self.ws();
                if self.b.get(self.i) != Some(&b':') {
                    return None;
                }
                self.i += 1;
                Some((start, end))
            }
            _ => None,
        }
    }

    /// Inside an array (after `[` or an element): whether another element follows (`false`
    /// at the closing `]`, consumed).
    pub fn next_element(&mut self) -> bool {
        self.ws();
        match self.b.get(self.i) {
            Some(b',') => {
                self.i += 1;
                true
            }
            Some(b']') => {
                self.i += 1;
                false
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Skips the rest of a value whose kind `v` was just read (objects and arrays to their
    /// closing bracket), without recursion.
    pub fn skip(&mut self, v: Value) {
        let mut depth: usize = match v {
            Value::Object(_) | Value::Array(_) => 1,
            _ => return,
        };
        while depth > 0 {
            let Some(rest) = self.b.get(self.i..) else {
                return;
            };
            let Some(k) = rest.iter().position(|c| matches!(c, b'"' | b'{' | b'}' | b'[' | b']')) else {
                self.i = self.b.len();
                return;
            };
            self.i += k;
            match self.b.get(self.i) {
                Some(b'"') => {
                    if self.string_end().is_none() {
                        self.i = self.b.len();
                        return;
                    }
                }
                Some(b'{' | b'[') => {
                    depth += 1;
                    self.i += 1;
                }
                _ => {
                    depth -= 1;
                    self.i += 1;
                }
            }
        }
    }
}

/// The decoded text of a short string literal (a key, a media type) if it has no escapes,
/// else `None` (callers treat it as unknown).
pub fn plain_str(b: &[u8], (start, end): (usize, usize)) -> Option<&str> {
    let inner = b.get(start + 1..end.checked_sub(1)?)?;
    if inner.contains(&b'\\') {
        return None;
    }
    std::str::from_utf8(inner).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_objects_arrays_and_scalars() {
        let doc = br#" {"a": [1, -2.5e3, "x\"y", true, null], "b" : {"c":"d"}, "e": []} "#;
        let mut r = Reader::new(doc);
        assert!(matches!(r.value(), Some(Value::Object(1))));
        let k = r.next_key().unwrap();
        assert_eq!(plain_str(doc, k), Some("a"));
        assert!(matches!(r.value(), Some(Value::Array(_))));
        let mut seen = vec![];
        while r.next_element() {
            match r.value().unwrap() {
                Value::Number(s, e) | Value::String(s, e) => seen.push(std::str::from_utf8(&doc[s..e]).unwrap()),
                v => seen.push(if v == Value::Literal { "lit" } else { "?" }),
            }
        }
        assert_eq!(seen, ["1", "-2.5e3", r#""x\"y""#, "lit", "lit"]);
        let k = r.next_key().unwrap();
        assert_eq!(plain_str(doc, k), Some("b"));
        let v = r.value().unwrap();
        r.skip(v);
        assert_eq!(plain_str(doc, r.next_key().unwrap()), Some("e"));
        let v = r.value().unwrap();
        assert!(!r.next_element());
        let _ = v;
        assert_eq!(r.next_key(), None);
    }

    #[test]
    fn malformed_input_ends_the_walk() {
        for bad in [&b"\"abc"[..], b"{\"a\" 1}", b"[", b"{", b"{\"a\":[{\"b\":\"x"] {
            let mut r = Reader::new(bad);
            let mut steps = 0;
            while let Some(v) = r.value() {
                r.skip(v);
                steps += 1;
                if steps > 10 {
                    break;
                }
            }
            assert!(steps <= 10);
        }
    }
}
