//! A line editor for git config files, for `setup git` and `setup git --remove`.
//!
//! Git's own writer (`git config --file F`) needs a real file and puts `F.lock` beside it, so
//! editing "a copy" means writing the user's config somewhere (it used to be a world-readable
//! file in /tmp). This editor works on the text instead: it finds `[credential "<url>"]`
//! sections and their `key = value` entries by line, adds or removes only the lines setup owns,
//! and leaves every other byte alone, so that `--dry-run` writes nothing and `--remove` after
//! setup gives back the original bytes. `setup git` checks every result with git itself (reading
//! the text on stdin) before it writes anything.

use std::ops::Range;

/// One `key = value` entry (possibly continued over several lines with a trailing `\`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, lower-cased (git's variable names are case-insensitive).
    pub key: String,
    /// The value as git reads it (quotes and escapes resolved, comment dropped); `None` for a
    /// bare key (which git reads as boolean true).
    pub value: Option<String>,
    /// The lines it spans.
    pub lines: Range<usize>,
}

/// One `[name "subsection"]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The section name, lower-cased.
    pub name: String,
    /// The quoted subsection, as written (case-sensitive), if any.
    pub sub: Option<String>,
    /// The header's line.
    pub header: usize,
    /// One past the section's last line (the next header, or the end of the file).
    pub end: usize,
    /// Its entries, in order.
    pub entries: Vec<Entry>,
    /// Whether the header line also carries an entry or anything but a comment.
    pub header_has_more: bool,
}

/// A parsed git config text: its lines (with their endings) and sections.
#[derive(Debug)]
pub struct Doc<'a> {
    /// The lines, each with its line ending.
    pub lines: Vec<&'a str>,
    /// The sections, in order.
    pub sections: Vec<Section>,
    /// The file's line ending (`\r\n` when it has any, else `\n`).
    pub nl: &'static str,
}

fn body(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

/// Whether a line continues onto the next one (an odd number of trailing backslashes).
fn continues(line: &str) -> bool {
    let b = body(line);
    (b.len() - b.trim_end_matches('\\').len()) % 2 == 1
}

/// Parses `[name "sub"] rest`: name, subsection, what follows `]`.
fn parse_header(t: &str) -> Option<(String, Option<String>, &str)> {
    let rest = t.strip_prefix('[')?;
    let name_end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .unwrap_or(rest.len());
    let name = rest[..name_end].to_ascii_lowercase();
    let mut after = rest[name_end..].trim_start_matches([' ', '\t']);
    let mut sub = None;
    if let Some(q) = after.strip_prefix('"') {
        let mut s = String::new();
        let mut chars = q.char_indices();
        let mut close = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        s.push(n);
                    }
                }
                '"' => {
                    close = Some(i);
                    break;
                }
                c => s.push(c),
            }
        }
        after = &q[close? + 1..];
        sub = Some(s);
    }
    let after = after.strip_prefix(']')?;
    Some((name, sub, after))
}

/// The value of an entry as git reads it: quotes removed, escapes resolved, comments dropped,
/// surrounding whitespace trimmed (inner whitespace kept).
pub fn unquote(raw: &str) -> String {
    let mut out = String::new();
    let mut pending_space = String::new();
    let mut quoted = false;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('b') => {
                    out.pop();
                }
                Some('\n') | Some('\r') | None => {}
                Some(o) => {
                    out.push_str(&pending_space);
                    pending_space.clear();
                    out.push(o)
                }
            },
            '#' | ';' if !quoted => break,
            ' ' | '\t' if !quoted => {
                if !out.is_empty() {
                    pending_space.push(c);
                }
            }
            '\n' | '\r' => {}
            c => {
                out.push_str(&pending_space);
                pending_space.clear();
                out.push(c);
            }
        }
        if quoted && !pending_space.is_empty() {
            out.push_str(&pending_space);
            pending_space.clear();
        }
    }
    out
}

/// A value written as git writes it: quoted when it has leading or trailing whitespace or a
/// comment character; `"` and `\` escaped.
pub fn quote(v: &str) -> String {
    let escaped = v
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace('\t', "\\t");
    let needs = v.starts_with([' ', '\t']) || v.ends_with([' ', '\t']) || v.contains(['#', ';']);
    if needs {
        format!("\"{escaped}\"")
    } else {
        escaped
    }
}

/// A section header for a subsection, as git writes it.
pub fn header(name: &str, sub: &str) -> String {
    format!(
        "[{name} \"{}\"]",
        sub.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

impl<'a> Doc<'a> {
    /// Splits the text into lines and sections. Anything it does not understand is kept as an
    /// opaque line (the caller verifies results with git).
    pub fn parse(text: &'a str) -> Doc<'a> {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let mut sections: Vec<Section> = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let t = body(lines[i]).trim_start_matches([' ', '\t']);
            if t.starts_with('[') {
                if let Some(last) = sections.last_mut() {
                    last.end = i;
                }
                let (name, sub, rest) = parse_header(t).unwrap_or_default();
                let rest = rest.trim();
                sections.push(Section {
                    name,
                    sub,
                    header: i,
                    end: lines.len(),
                    entries: Vec::new(),
                    header_has_more: !(rest.is_empty()
                        || rest.starts_with('#')
                        || rest.starts_with(';')),
                });
                i += 1;
                continue;
            }
            let start = i;
            let mut end = i + 1;
            while continues(lines[end - 1]) && end < lines.len() {
                end += 1;
            }
            i = end;
            if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                continue;
            }
            let key_len = t
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(t.len());
            if key_len == 0 {
                continue;
            }
            let key = t[..key_len].to_ascii_lowercase();
            let after = t[key_len..].trim_start_matches([' ', '\t']);
            let value = after.strip_prefix('=').map(|v| {
                let mut raw = v.to_string();
                for l in &lines[start + 1..end] {
                    raw.push('\n');
                    raw.push_str(body(l));
                }
                unquote(&raw.replace("\\\n", ""))
            });
            if let Some(s) = sections.last_mut() {
                s.entries.push(Entry {
                    key,
                    value,
                    lines: start..end,
                });
            }
        }
        Doc {
            lines,
            sections,
            nl,
        }
    }

    /// The sections `[name "sub"]`.
    pub fn find<'s>(&'s self, name: &'s str, sub: &'s str) -> impl Iterator<Item = &'s Section> {
        self.sections
            .iter()
            .filter(move |s| s.name == name && s.sub.as_deref() == Some(sub))
    }

    /// Every value of `key` in the sections `[name "sub"]`, in order.
    pub fn values(&self, name: &str, sub: &str, key: &str) -> Vec<Option<String>> {
        self.find(name, sub)
            .flat_map(|s| s.entries.iter())
            .filter(|e| e.key == key)
            .map(|e| e.value.clone())
            .collect()
    }

    /// The text with the lines in `drop` left out and `insert` (line index → text) put before
    /// those lines (an index equal to the line count appends).
    pub fn render(&self, drop: &[Range<usize>], insert: &[(usize, String)]) -> String {
        let mut out = String::new();
        for i in 0..=self.lines.len() {
            for (at, text) in insert.iter().filter(|(at, _)| *at == i) {
                if *at > 0 && !out.is_empty() && !out.ends_with('\n') {
                    out.push_str(self.nl);
                }
                out.push_str(text);
            }
            if i < self.lines.len() && !drop.iter().any(|r| r.contains(&i)) {
                out.push_str(self.lines[i]);
            }
        }
        out
    }
}

/// Git's boolean reading of a value (`None`: a bare key, which is true).
pub fn is_true(v: &Option<String>) -> bool {
    match v {
        None => true,
        Some(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1"),
    }
}

/// The indentation of an entry's first line (a tab when it has none).
pub fn indent_of(line: &str) -> &str {
    let n = line.len() - line.trim_start_matches([' ', '\t']).len();
    if n == 0 {
        "\t"
    } else {
        &line[..n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_entries_and_values() {
        let text = "[user]\n\tname = A # c\n[credential \"https://x\"]\n\thelper = \n\thelper = \"a b\" ; c\n\tuseHttpPath\n\tx = 1\\\n2\n[Credential \"https://x\"] # more\n\tHelper = z\n";
        let d = Doc::parse(text);
        assert_eq!(d.sections.len(), 3);
        assert_eq!(d.sections[0].entries[0].value.as_deref(), Some("A"));
        assert_eq!(
            d.values("credential", "https://x", "helper"),
            vec![Some(String::new()), Some("a b".into()), Some("z".into())]
        );
        assert_eq!(
            d.values("credential", "https://x", "usehttppath"),
            vec![None]
        );
        let x = &d.sections[1].entries[3];
        assert_eq!((x.lines.clone(), x.value.as_deref()), (6..8, Some("12")));
        assert_eq!(d.render(&[], &[]), text);
        assert!(!d.sections[2].header_has_more);
    }

    #[test]
    fn quoting_round_trips() {
        for v in [
            "",
            "plain",
            "/a b/c -p x",
            " lead",
            "a#b",
            "q\"uo\\te",
            "!'/x y/z' -p w",
        ] {
            assert_eq!(unquote(&quote(v)), v, "{v}");
        }
        assert_eq!(quote("/opt/bin/h -p w"), "/opt/bin/h -p w");
        assert_eq!(
            header("credential", "https://a"),
            "[credential \"https://a\"]"
        );
    }

    #[test]
    fn render_inserts_and_drops() {
        let d = Doc::parse("a\nb\nc");
        assert_eq!(
            d.render(std::slice::from_ref(&(1..2)), &[(3, "d\n".into())]),
            "a\nc\nd\n"
        );
        assert_eq!(d.render(&[], &[(0, "z\n".into())]), "z\na\nb\nc");
    }
}
