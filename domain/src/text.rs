//! The rule every free text Tessera stores follows, the same on every store:
//! no NUL and no other control character but tab, line feed and carriage
//! return (Postgres cannot store a NUL; neither belongs in a note, a reason or
//! a name), and a length in characters the schema holds.

/// Whether `text` holds a character no stored text may hold.
pub fn has_forbidden_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// Checks one free-text field: at most `max_chars` characters, no forbidden
/// control character. The error names the field and never echoes the text.
pub fn check(field: &str, text: &str, max_chars: usize) -> Result<(), String> {
    if text.chars().count() > max_chars {
        return Err(format!("{field} is longer than {max_chars} characters"));
    }
    if has_forbidden_control(text) {
        return Err(format!("{field} contains a NUL or another control character"));
    }
    Ok(())
}

/// `text` for a message to the operator: control characters replaced, at most
/// `max_chars` characters (an ellipsis marks a cut).
pub fn printable(text: &str, max_chars: usize) -> String {
    let mut shown: String = text
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() && !matches!(c, '\t' | '\n') { '\u{fffd}' } else { c })
        .collect();
    if text.chars().count() > max_chars {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_controls_are_refused_line_breaks_are_not() {
        assert!(check("notes", "line one\nline two\r\n\tindented", 100).is_ok());
        for bad in ["\u{0}", "a\u{0}b", "bell\u{7}", "esc\u{1b}[0m", "del\u{7f}", "c1\u{85}"] {
            let error = check("notes", bad, 100).unwrap_err();
            assert!(error.contains("notes") && !error.contains('\u{0}'), "{bad:?}");
        }
        assert!(check("notes", &"é".repeat(100), 100).is_ok(), "characters, not bytes");
        assert!(check("notes", &"é".repeat(101), 100).is_err());
    }

    #[test]
    fn printable_text_has_no_controls_and_marks_cuts() {
        assert_eq!(printable("a\u{0}b", 10), "a\u{fffd}b");
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}
