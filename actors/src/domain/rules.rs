//! Field rules of the user contract (DIGIT's bean validation), as pure functions returning violations.
//!
//! A [`Violation`] names the constraint kind and the field; the HTTP layer turns it into DIGIT's error code
//! (`Size.createUserRequest.user.name`) and default message (`size must be between 0 and 50`).

use std::sync::LazyLock;

use regex::Regex;

/// The kind of a broken constraint, as Hibernate Validator names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// Length over the maximum.
    Size,
    /// Regular expression not matched.
    Pattern,
    /// Not a well-formed e-mail address.
    Email,
    /// HTML outside the basic safe list.
    SafeHtml,
}

/// A field value that broke a constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which constraint.
    pub constraint: Constraint,
    /// The field's name on the wire (`permanentPinCode`).
    pub field: &'static str,
    /// The validator's default message.
    pub message: String,
}

/// Forbidden characters of DIGIT's name pattern (`name`, `fatherOrHusbandName`).
const NAME_FORBIDDEN: &str = "\\$\"<>?~`!@#%^()+={}*,:;“”‘’";
/// The name pattern as DIGIT's message shows it.
pub const NAME_PATTERN: &str = "^[^\\\\$\\\"<>?\\\\\\\\~`!@#$%^()+={}\\\\[\\\\]*,:;“”‘’]*$";
/// DIGIT's city pattern.
pub const CITY_PATTERN: &str = "^[a-zA-Z. ]*$";
/// DIGIT's PIN code pattern.
pub const PINCODE_PATTERN: &str = "^[1-9][0-9]{5}$";
/// DIGIT's gender pattern.
pub const GENDER_PATTERN: &str = "^[a-zA-Z ]*$";
/// DIGIT's tenant pattern.
pub const TENANT_PATTERN: &str = "^[a-zA-Z. ]*$";

static PINCODE: LazyLock<Regex> = LazyLock::new(|| Regex::new(PINCODE_PATTERN).expect("valid"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
        .expect("valid")
});
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<(/?)([A-Za-z][A-Za-z0-9]*)([^>]*)>|<[!?]").expect("valid"));
static ATTR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([A-Za-z_:][-A-Za-z0-9_:.]*)\s*(?:=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?"#)
        .expect("valid")
});

/// The tags of jsoup's basic safe list, which DIGIT's `@CustomSafeHtml` uses.
const BASIC_TAGS: &[&str] = &[
    "a",
    "b",
    "blockquote",
    "br",
    "cite",
    "code",
    "dd",
    "dl",
    "dt",
    "em",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "u",
    "ul",
];

/// Collects violations of one object's fields, in the order they are checked.
#[derive(Debug, Default)]
pub struct Checker {
    violations: Vec<Violation>,
}

impl Checker {
    /// An empty checker.
    pub fn new() -> Self {
        Self::default()
    }

    /// The violations found so far.
    pub fn finish(self) -> Vec<Violation> {
        self.violations
    }

    fn push(&mut self, constraint: Constraint, field: &'static str, message: String) {
        self.violations.push(Violation {
            constraint,
            field,
            message,
        });
    }

    /// `@Size(max)`: length in characters.
    pub fn max_len(&mut self, field: &'static str, value: Option<&str>, max: usize) -> &mut Self {
        if value.is_some_and(|v| v.chars().count() > max) {
            self.push(
                Constraint::Size,
                field,
                format!("size must be between 0 and {max}"),
            );
        }
        self
    }

    /// `@CustomSafeHtml`: only jsoup's basic safe list of tags and attributes.
    pub fn safe_html(&mut self, field: &'static str, value: Option<&str>) -> &mut Self {
        if value.is_some_and(|v| !is_safe_html(v)) {
            self.push(
                Constraint::SafeHtml,
                field,
                "Unsafe HTML tags included".to_owned(),
            );
        }
        self
    }

    /// The name pattern of `name` and `fatherOrHusbandName`.
    pub fn name_pattern(&mut self, field: &'static str, value: Option<&str>) -> &mut Self {
        if value.is_some_and(|v| v.chars().any(|c| NAME_FORBIDDEN.contains(c))) {
            self.pattern_violation(field, NAME_PATTERN);
        }
        self
    }

    /// No control characters (NUL, CR, LF…) and no bidirectional or invisible format characters (the
    /// right-to-left override that makes `resu` read `user`): names and userNames shown to people.
    pub fn plain_text(&mut self, field: &'static str, value: Option<&str>) -> &mut Self {
        if value.is_some_and(|v| v.chars().any(is_hidden_or_control)) {
            self.push(
                Constraint::Pattern,
                field,
                "must not contain control, bidirectional or invisible characters".to_owned(),
            );
        }
        self
    }

    /// `^[a-zA-Z. ]*$` (cities, tenants).
    pub fn letters_dots_spaces(
        &mut self,
        field: &'static str,
        value: Option<&str>,
        shown: &'static str,
    ) -> &mut Self {
        if value.is_some_and(|v| {
            !v.chars()
                .all(|c| c.is_ascii_alphabetic() || c == '.' || c == ' ')
        }) {
            self.pattern_violation(field, shown);
        }
        self
    }

    /// `^[a-zA-Z ]*$` (gender).
    pub fn letters_spaces(&mut self, field: &'static str, value: Option<&str>) -> &mut Self {
        if value.is_some_and(|v| !v.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')) {
            self.pattern_violation(field, GENDER_PATTERN);
        }
        self
    }

    /// `^[1-9][0-9]{5}$` (PIN codes). Hibernate applies `@Pattern` to `""` too, so an empty PIN code fails.
    pub fn pincode(&mut self, field: &'static str, value: Option<&str>) -> &mut Self {
        if value.is_some_and(|v| !PINCODE.is_match(v)) {
            self.pattern_violation(field, PINCODE_PATTERN);
        }
        self
    }

    /// `@Email`: an empty value passes, as in Hibernate Validator.
    pub fn email(&mut self, field: &'static str, value: Option<&str>) -> &mut Self {
        if value.is_some_and(|v| !v.is_empty() && !is_email(v)) {
            self.push(
                Constraint::Email,
                field,
                "not a well-formed email address".to_owned(),
            );
        }
        self
    }

    fn pattern_violation(&mut self, field: &'static str, pattern: &str) {
        self.push(
            Constraint::Pattern,
            field,
            format!("must match \"{pattern}\""),
        );
    }
}

/// Control characters and the characters that reorder or hide text: bidi embeddings, overrides, isolates
/// and marks, line and paragraph separators, the zero-width space, word joiners and invisible operators, the
/// soft hyphen, the combining grapheme joiner, fillers that render as nothing, the byte-order mark and tag
/// characters. Not the zero-width joiner and non-joiner (U+200C, U+200D): Malayalam, Devanagari, Bengali,
/// Kannada and Urdu names are spelled with them.
fn is_hidden_or_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'
                | '\u{200E}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// Whether `value` is a well-formed e-mail address (local part, `@`, dotted host).
pub fn is_email(value: &str) -> bool {
    let Some((local, _)) = value.rsplit_once('@') else {
        return false;
    };
    local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && EMAIL.is_match(value)
}

/// Whether `value` holds only markup that jsoup's basic safe list keeps: the tags listed there, no event
/// handlers or styles, links only to http(s)/mailto, and no comments, doctypes or processing instructions.
pub fn is_safe_html(value: &str) -> bool {
    for caps in TAG.captures_iter(value) {
        let Some(tag) = caps.get(2) else { return false }; // `<!` or `<?`
        let tag = tag.as_str().to_ascii_lowercase();
        if !BASIC_TAGS.contains(&tag.as_str()) {
            return false;
        }
        let attrs = caps
            .get(3)
            .map_or("", |m| m.as_str())
            .trim()
            .trim_end_matches('/');
        for attr in ATTR.captures_iter(attrs) {
            let name = attr[1].to_ascii_lowercase();
            let val = attr
                .get(2)
                .map_or("", |m| m.as_str())
                .trim_matches(['"', '\''])
                .trim()
                .to_ascii_lowercase();
            let allowed = match (tag.as_str(), name.as_str()) {
                ("a", "href") => {
                    val.starts_with("http:")
                        || val.starts_with("https:")
                        || val.starts_with("mailto:")
                }
                ("a", "title")
                | ("blockquote" | "q", "cite")
                | ("ol", "start" | "type")
                | ("ul", "type") => true,
                _ => false,
            };
            if !allowed {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(f: impl FnOnce(&mut Checker)) -> Vec<Violation> {
        let mut c = Checker::new();
        f(&mut c);
        c.finish()
    }

    #[test]
    fn plain_text_refuses_control_bidi_and_invisible_characters_only() {
        // a Malayalam chillu written with a zero-width joiner, a Hindi half form with a non-joiner
        for ok in [
            "Asha Devi",
            "अशा देवी",
            "ਆਸ਼ਾ",
            "O'Brien-Smith",
            "محمد",
            "അവന\u{0D4D}\u{200D}",
            "क\u{094D}\u{200C}ष",
        ] {
            assert!(
                one(|c| {
                    c.plain_text("name", Some(ok));
                })
                .is_empty(),
                "{ok}"
            );
        }
        for bad in [
            "EMP\u{0}1",
            "EMP\r\n1",
            "EMP\t1",
            "\u{202E}resu",
            "ad\u{2067}min",
            "a\u{200B}b",
            "\u{FEFF}x",
            "a\u{2028}b",
            "ad\u{00AD}min",
            "x\u{3164}",
            "tag\u{E0041}",
        ] {
            let v = one(|c| {
                c.plain_text("userName", Some(bad));
            });
            assert_eq!(v.len(), 1, "{bad:?}");
            assert_eq!(v[0].constraint, Constraint::Pattern);
        }
    }

    #[test]
    fn sizes_count_characters_not_bytes() {
        assert!(
            one(|c| {
                c.max_len("name", Some("अशा देवी"), 8);
            })
            .is_empty()
        );
        let v = one(|c| {
            c.max_len("name", Some(&"x".repeat(51)), 50);
        });
        assert_eq!(v[0].message, "size must be between 0 and 50");
        assert_eq!(v[0].constraint, Constraint::Size);
    }

    #[test]
    fn name_pattern_refuses_digit_forbidden_characters_only() {
        for bad in ["Asha$", "A<b", "x@y", "a,b", "a;b", "“x”", "a\\b", "(a)"] {
            assert_eq!(
                one(|c| {
                    c.name_pattern("name", Some(bad));
                })
                .len(),
                1,
                "{bad}"
            );
        }
        for good in [
            "Asha Devi",
            "O'Brien",
            "Dr. A-B_C/D & E",
            "x|y",
            "a[1]",
            "अशा",
        ] {
            assert!(
                one(|c| {
                    c.name_pattern("name", Some(good));
                })
                .is_empty(),
                "{good}"
            );
        }
    }

    #[test]
    fn pincode_needs_six_digits_not_starting_with_zero() {
        assert!(
            one(|c| {
                c.pincode("permanentPinCode", Some("143001"));
            })
            .is_empty()
        );
        for bad in ["043001", "14300", "1430011", "14300a", ""] {
            assert_eq!(
                one(|c| {
                    c.pincode("permanentPinCode", Some(bad));
                })
                .len(),
                1,
                "{bad}"
            );
        }
    }

    #[test]
    fn email_format() {
        for good in ["asha@example.org", "a.b+c@mail.gov.in", "x@localhost"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "asha", "a@", "@b.com", "a..b@c.d", "a b@c.d", "a@b..c", "a@-b.c",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
        assert!(
            one(|c| {
                c.email("emailId", Some(""));
            })
            .is_empty()
        );
    }

    #[test]
    fn safe_html_keeps_plain_text_and_basic_tags_only() {
        for ok in [
            "plain text",
            "a < b and c > d",
            "Tom & Jerry",
            "<b>bold</b>",
            "<a href=\"https://x.org\">x</a>",
        ] {
            assert!(is_safe_html(ok), "{ok}");
        }
        for bad in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "<b onclick=\"x()\">b</b>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<!-- c -->",
            "<iframe src=x>",
            "<p style=\"color:red\">x</p>",
        ] {
            assert!(!is_safe_html(bad), "{bad}");
        }
    }

    #[test]
    fn city_and_gender_patterns() {
        assert!(
            one(|c| {
                c.letters_dots_spaces("permanentCity", Some("St. Louis"), CITY_PATTERN);
            })
            .is_empty()
        );
        assert_eq!(
            one(|c| {
                c.letters_dots_spaces("permanentCity", Some("City 17"), CITY_PATTERN);
            })
            .len(),
            1
        );
        assert_eq!(
            one(|c| {
                c.letters_spaces("gender", Some("M4LE"));
            })[0]
                .message,
            "must match \"^[a-zA-Z ]*$\""
        );
    }
}
