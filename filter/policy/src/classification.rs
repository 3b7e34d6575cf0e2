//! The four data classifications of the reference doc, in order of sensitivity.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Classification {
    Public,
    Internal,
    Confidential,
    Restricted,
}

impl Classification {
    pub const ALL: [Classification; 4] = [
        Classification::Public,
        Classification::Internal,
        Classification::Confidential,
        Classification::Restricted,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Classification::Public),
            "internal" => Some(Classification::Internal),
            "confidential" => Some(Classification::Confidential),
            "restricted" => Some(Classification::Restricted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Public => "public",
            Classification::Internal => "internal",
            Classification::Confidential => "confidential",
            Classification::Restricted => "restricted",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of classifications (what a model tier is approved for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassificationSet(u8);

impl ClassificationSet {
    pub fn insert(&mut self, c: Classification) {
        self.0 |= c.bit();
    }

    pub fn contains(self, c: Classification) -> bool {
        self.0 & c.bit() != 0
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
