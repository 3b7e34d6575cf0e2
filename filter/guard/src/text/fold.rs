//! Look-alike letters: Cyrillic and Greek letters that read as Latin ones (`іgnоre` with
//! Cyrillic і and о reads as "ignore"), and typographic apostrophes. Normalisation folds
//! them, so keywords, markers and injection phrases match however they are spelled.

/// The ASCII letter (or apostrophe) `c` looks like, if any; both cases.
pub(crate) fn confusable(c: char) -> Option<char> {
    Some(match c {
        'а' | 'α' => 'a',
        'А' | 'Α' => 'A',
        'в' | 'β' => 'b',
        'В' | 'Β' => 'B',
        'с' | 'ϲ' => 'c',
        'С' | 'Ϲ' => 'C',
        'ԁ' => 'd',
        'е' | 'ё' | 'ε' => 'e',
        'Е' | 'Ё' | 'Ε' => 'E',
        'һ' | 'н' => 'h',
        'Н' | 'Η' => 'H',
        'і' | 'ї' | 'ι' | 'ı' => 'i',
        'І' | 'Ї' | 'Ι' => 'I',
        'ј' => 'j',
        'Ј' => 'J',
        'к' | 'κ' => 'k',
        'К' | 'Κ' => 'K',
        'ӏ' => 'l',
        'м' => 'm',
        'М' | 'Μ' => 'M',
        'п' | 'η' => 'n',
        'Ν' => 'N',
        'о' | 'ο' | 'σ' => 'o',
        'О' | 'Ο' => 'O',
        'р' | 'ρ' => 'p',
        'Р' | 'Ρ' => 'P',
        'ԛ' => 'q',
        'Ԛ' => 'Q',
        'г' => 'r',
        'ѕ' => 's',
        'Ѕ' => 'S',
        'т' | 'τ' => 't',
        'Т' | 'Τ' => 'T',
        'υ' | 'μ' => 'u',
        'ν' => 'v',
        'ԝ' | 'ω' => 'w',
        'Ԝ' => 'W',
        'х' | 'χ' => 'x',
        'Х' | 'Χ' => 'X',
        'у' | 'γ' => 'y',
        'У' | 'Υ' => 'Y',
        'ᴢ' => 'z',
        'Ζ' => 'Z',
        '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{FF07}' => '\'',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_lookalikes_in_both_cases() {
        let fold = |s: &str| -> String { s.chars().map(|c| confusable(c).unwrap_or(c)).collect() };
        assert_eq!(fold("Іgnоrе АLL"), "Ignore ALL");
        assert_eq!(fold("СОNFIDЕNTIАL"), "CONFIDENTIAL");
        assert_eq!(fold("don\u{2019}t"), "don't");
    }
}
