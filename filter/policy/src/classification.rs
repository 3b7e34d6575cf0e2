//! The four data classifications of the reference doc, in order of sensitivity.

/// One definition for the detection engine and the policy: genai-guard's.
pub use genai_guard::Classification;

fn bit(c: Classification) -> u8 {
    1 << (c as u8)
}

/// A set of classifications (what a model tier is approved for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassificationSet(u8);

impl ClassificationSet {
    pub fn insert(&mut self, c: Classification) {
        self.0 |= bit(c);
    }

    pub fn contains(self, c: Classification) -> bool {
        self.0 & bit(c) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Classification> {
        Classification::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Classification> for ClassificationSet {
    fn from_iter<I: IntoIterator<Item = Classification>>(iter: I) -> Self {
        let mut s = ClassificationSet::default();
        for c in iter {
            s.insert(c);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_and_round_trips() {
        assert!(Classification::Public < Classification::Internal);
        assert!(Classification::Confidential < Classification::Restricted);
        for c in Classification::ALL {
            assert_eq!(Classification::parse(c.as_str()), Some(c));
        }
        assert_eq!(Classification::parse("secret"), None);
        let set: ClassificationSet = [Classification::Public, Classification::Restricted]
            .into_iter()
            .collect();
        assert!(set.contains(Classification::Restricted) && !set.contains(Classification::Internal));
        assert_eq!(set.iter().count(), 2);
    }
}
