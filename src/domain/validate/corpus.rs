//! Test support for the validation tests: a deterministic random source and a JSON Schema
//! validator.

use serde_json::Value;

pub(super) fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("the schema compiles")
}

/// A small deterministic generator (xorshift), so failures reproduce.
pub(super) struct Random(pub(super) u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Strings of up to `max` characters, from `alphabet` and now and then a piece of `seeds`.
    pub(super) fn strings(
        &mut self,
        alphabet: &[&str],
        seeds: &[&str],
        max: usize,
        count: usize,
    ) -> Vec<String> {
        (0..count)
            .map(|_| {
                let len = self.below(max + 1);
                let mut s = String::new();
                while s.chars().count() < len {
                    if !seeds.is_empty() && self.below(8) == 0 {
                        s.push_str(seeds[self.below(seeds.len())]);
                    } else {
                        s.push_str(alphabet[self.below(alphabet.len())]);
                    }
                }
                s
            })
            .collect()
    }
}
