//! Reading and writing kubeconfig YAML, with `yaml-rust2` (pure Rust,
//! maintained, keeps mapping order): [`parse`] (one document, a mapping,
//! nothing that cannot be written back), [`emit`] (block style, as kubectl
//! writes), the file's leading comment block, and [`splice_users`]. In a
//! block-style file (what kubectl writes) only the converted `users` items are
//! replaced and every other line keeps its bytes, comments included; another
//! layout is written whole, and then comments other than the file's leading
//! comment block are not kept.

use crate::error::{one_line, Error, Result};
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

/// A YAML string.
pub(super) fn s(v: &str) -> Yaml {
    Yaml::String(v.to_string())
}

/// The value of `key` in a mapping.
pub(super) fn get<'a>(h: &'a Hash, key: &str) -> Option<&'a Yaml> {
    h.get(&s(key))
}

/// The string value of `key` in a mapping (`None` when absent or not a string).
pub(super) fn get_str<'a>(h: &'a Hash, key: &str) -> Option<&'a str> {
    get(h, key).and_then(Yaml::as_str)
}

/// Whether the document holds a value that cannot be written back (a bad
/// value or an alias).
fn has_bad(y: &Yaml) -> bool {
    match y {
        Yaml::BadValue | Yaml::Alias(_) => true,
        Yaml::Array(a) => a.iter().any(has_bad),
        Yaml::Hash(h) => h.iter().any(|(k, v)| has_bad(k) || has_bad(v)),
        _ => false,
    }
}

/// Parses a kubeconfig: one YAML document whose top level is a mapping (an
/// empty file is an empty config). Err is one line, without the file name.
pub fn parse(text: &str) -> Result<Yaml> {
    let docs = YamlLoader::load_from_str(text)
        .map_err(|e| Error::Config(format!("not valid YAML ({})", one_line(&e.to_string()))))?;
    let doc = match docs.len() {
        0 => return Ok(Yaml::Hash(Hash::new())),
        1 => docs.into_iter().next().unwrap_or(Yaml::BadValue),
        n => {
            return Err(Error::Config(format!(
                "{n} YAML documents where a kubeconfig has one"
            )))
        }
    };
    if matches!(doc, Yaml::BadValue | Yaml::Null) {
        return Ok(Yaml::Hash(Hash::new()));
    }
    if !doc.is_hash() {
        return Err(Error::Config(
            "not a kubeconfig (the top level is not a mapping)".into(),
        ));
    }
    if has_bad(&doc) {
        return Err(Error::Config(
            "the YAML has a value that cannot be read back faithfully (an unknown tag or alias)"
                .into(),
        ));
    }
    Ok(doc)
}

/// Writes YAML the way kubeconfigs look (block style, no `---`), ending in a newline.
pub fn emit(doc: &Yaml) -> Result<String> {
    let mut out = String::new();
    {
        let mut em = YamlEmitter::new(&mut out);
        em.dump(doc)
            .map_err(|e| Error::Other(format!("cannot write YAML: {e}")))?;
    }
    let body = out
        .strip_prefix("---\n")
        .or_else(|| out.strip_prefix("---"))
        .unwrap_or(&out)
        .trim_start_matches('\n');
    Ok(format!("{}\n", body.trim_end_matches('\n')))
}

/// The comment lines (and blank lines) at the top of the file, kept on rewrite.
pub(super) fn leading_comments(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        // A lone CR ends a line for YAML: what follows it is not part of the
        // comment, so the line cannot be copied as one (fuzz: kubeconfig).
        if line.contains('\r') {
            break;
        }
        let t = line.trim();
        if t.starts_with('#') || t.is_empty() {
            out.push_str(line);
            out.push('\n');
        } else {
            break;
        }
    }
    // Blank lines alone are not worth keeping.
    if out.trim().is_empty() {
        String::new()
    } else {
        out
    }
}

/// Whether the file has comments below its leading block (they are lost).
pub fn has_inner_comments(text: &str) -> bool {
    let lead = leading_comments(text).lines().count();
    text.lines()
        .skip(lead)
        .any(|l| l.trim_start().starts_with('#'))
}

/// The text with only the converted `users` items replaced (each by its emitted YAML, at the
/// item's indentation), so that everything else keeps its bytes: the format kubectl writes,
/// comments, a dotfile manager's diff. `None` when the layout is not the plain block style
/// found by a line scan, or the result does not read back as `doc` (then the caller writes the
/// whole document).
pub(super) fn splice_users(text: &str, doc: &Yaml, items: &[(usize, String)]) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let skip = |l: &str| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    };
    let start = lines.iter().position(|l| {
        let b = l.trim_end();
        b == "users:" || b.starts_with("users: #")
    })?;
    // Items: lines starting with `- ` at the first item's indentation; an item runs to its
    // last line indented deeper (blank and comment lines after it stay outside).
    let mut starts: Vec<usize> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut item_indent = None;
    let mut i = start + 1;
    while i < lines.len() {
        let l = lines[i];
        if skip(l) {
            i += 1;
            continue;
        }
        let ind = indent(l);
        let t = &l[ind..];
        let dash = t.starts_with("- ") || t.trim_end() == "-";
        match item_indent {
            None if dash => item_indent = Some(ind),
            None => return None,
            Some(_) => {}
        }
        let ii = item_indent?;
        if dash && ind == ii {
            starts.push(i);
            ends.push(i + 1);
        } else if ind > ii {
            *ends.last_mut()? = i + 1;
        } else {
            break;
        }
        i += 1;
    }
    let ii = item_indent?;
    let users = match doc {
        Yaml::Hash(h) => get(h, "users")?.as_vec()?,
        _ => return None,
    };
    if starts.len() != users.len() {
        return None;
    }
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(text.len() + 256);
    let mut k = 0;
    while k < lines.len() {
        if let Some(n) = starts.iter().position(|&s| s == k) {
            if let Some((_, yaml)) = items.iter().find(|(idx, _)| *idx == n) {
                for l in yaml.lines() {
                    out.push_str(&" ".repeat(ii));
                    out.push_str(l);
                    out.push_str(nl);
                }
                k = ends[n];
                continue;
            }
        }
        out.push_str(lines[k]);
        k += 1;
    }
    (parse(&out).ok()? == *doc).then_some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LEGACY: &str = include_str!("../../tests/fixtures/kubeconfig-aks-legacy-azure.yaml");
    const KUBELOGIN: &str = include_str!("../../tests/fixtures/kubeconfig-aks-kubelogin.yaml");

    #[test]
    fn emitted_yaml_round_trips() {
        let doc = parse(KUBELOGIN).unwrap();
        let again = parse(&emit(&doc).unwrap()).unwrap();
        assert_eq!(doc, again);
        // The multi-line installHint and the quoted "1" survive.
        let doc = parse(LEGACY).unwrap();
        let text = emit(&doc).unwrap();
        assert!(!text.starts_with("---"));
        assert_eq!(parse(&text).unwrap(), doc);
        assert_eq!(
            doc["users"][0]["user"]["auth-provider"]["config"]["config-mode"],
            Yaml::String("1".into())
        );
    }

    #[test]
    fn comments_detection() {
        assert!(!has_inner_comments(LEGACY));
        assert!(has_inner_comments("a: 1\n# x\n"));
    }
}
