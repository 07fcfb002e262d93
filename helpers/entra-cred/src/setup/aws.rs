//! `entra-cred setup aws --aws-profile NAME --scope S [--role-arn ARN] [--dry-run]`.
//!
//! Writes one line into `[profile NAME]` (`[default]` for `default`) of `$AWS_CONFIG_FILE`
//! (default `~/.aws/config`):
//!
//! ```text
//! credential_process = "/abs/path/entra-credential-process" [-p P] --scope S [--role-arn ARN] ...
//! ```
//!
//! The path is in double quotes as AWS documents for paths with spaces; other words are quoted
//! for a POSIX shell when needed (which `shlex.split` in botocore and `sh -c` in the Go and Java
//! SDKs read alike). Editing is line-based: every other line (profiles, keys, comments, blank
//! lines, line endings) is kept byte for byte; an existing `credential_process` line of that
//! section is replaced, a missing section is appended. A file that Python's `configparser`
//! (botocore) would refuse is refused too.

use super::{ConfigFile, Outcome};
use entra_cred_core::error::one_line;
use entra_cred_core::{Error, Result};
use std::path::{Path, PathBuf};

/// `setup aws` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The AWS profile to write (`default` writes `[default]`).
    #[arg(long, value_name = "NAME", required_unless_present = "remove")]
    pub aws_profile: Option<String>,
    /// The Entra scope: the application AWS IAM trusts as the OIDC audience (`api://.../.default`).
    #[arg(long, value_name = "S", required_unless_present = "remove")]
    pub scope: Option<String>,
    /// Role to assume with the Entra token (federation mode); without it, token mode.
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// Session name for AssumeRoleWithWebIdentity.
    #[arg(long, value_name = "N", requires = "role_arn")]
    pub role_session_name: Option<String>,
    /// Lifetime of the AWS session credentials.
    #[arg(long, value_name = "D", requires = "role_arn")]
    pub duration_seconds: Option<u32>,
    /// Region of the STS endpoint.
    #[arg(long, value_name = "R", requires = "role_arn")]
    pub region: Option<String>,
    /// Print the change as a diff on stdout; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Take entra-credential-process out again (of --aws-profile's section; of every section
    /// when none is given).
    #[arg(long, conflicts_with_all = ["scope", "role_arn"])]
    pub remove: bool,
}

/// `$AWS_CONFIG_FILE`, else `~/.aws/config`.
pub fn config_path() -> Result<PathBuf> {
    match super::env_path("AWS_CONFIG_FILE") {
        Some(p) => Ok(p),
        None => Ok(super::home()?.join(".aws").join("config")),
    }
}

/// `$AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`.
fn credentials_path() -> Option<PathBuf> {
    super::env_path("AWS_SHARED_CREDENTIALS_FILE").or_else(|| {
        super::home()
            .ok()
            .map(|h| h.join(".aws").join("credentials"))
    })
}

/// Quotes the program path with double quotes (AWS's documented form), unless it holds a
/// character that would mean something inside them.
fn quote_path(p: &str) -> String {
    if p.chars().any(|c| matches!(c, '"' | '\\' | '$' | '`')) {
        super::sh_quote(p)
    } else {
        format!("\"{p}\"")
    }
}

/// The value of `credential_process` (everything after `credential_process = `).
pub fn command_line(program: Option<&Path>, args: &Args, profile: Option<&str>) -> String {
    let mut words = vec![match program {
        Some(p) => quote_path(&p.to_string_lossy()),
        None => "entra-credential-process".to_string(),
    }];
    let mut push = |flag: &str, v: &str| {
        words.push(flag.to_string());
        words.push(super::sh_quote(v));
    };
    if let Some(p) = profile {
        push("-p", p);
    }
    push("--scope", args.scope.as_deref().unwrap_or_default());
    if let Some(a) = &args.role_arn {
        push("--role-arn", a);
    }
    if let Some(n) = &args.role_session_name {
        push("--role-session-name", n);
    }
    if let Some(d) = args.duration_seconds {
        push("--duration-seconds", &d.to_string());
    }
    if let Some(r) = &args.region {
        push("--region", r);
    }
    words.join(" ")
}

/// What a line of the file is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Blank,
    Comment,
    /// `[...]` with its name as botocore reads it (`profile x` → `x`, `default`, `sso-session y`).
    Section(String),
    /// `key = value` (key lower-cased) with its indentation.
    Key(String, usize),
    /// An indented line continuing the previous key's value (nested `s3 =` settings).
    Continuation,
}

struct Line<'a> {
    text: &'a str,
    kind: Kind,
}

fn indent_of(s: &str) -> usize {
    s.len() - s.trim_start_matches([' ', '\t']).len()
}

/// The profile name a section header gives, as botocore maps it.
fn section_name(inner: &str) -> String {
    let inner = inner.trim();
    if let Some(rest) = inner.strip_prefix("profile") {
        if rest.starts_with([' ', '\t']) {
            let rest = rest.trim();
            let unq = rest
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .unwrap_or(rest);
            return format!("profile {unq}");
        }
    }
    inner.to_string()
}

/// Splits and classifies the file the way `configparser` (strict) reads it; the error is a line
/// number and reason.
fn parse(text: &str) -> std::result::Result<Vec<Line<'_>>, String> {
    let mut out: Vec<Line> = Vec::new();
    let mut in_section = false;
    let mut key_indent: Option<usize> = None;
    let mut sections: Vec<String> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    for (i, text) in text.split_inclusive('\n').enumerate() {
        let n = i + 1;
        let body = text.trim_end_matches(['\n', '\r']);
        let t = body.trim();
        let kind = if t.is_empty() {
            Kind::Blank
        } else if t.starts_with('#') || t.starts_with(';') {
            Kind::Comment
        } else if key_indent.is_some_and(|k| indent_of(body) > k) {
            Kind::Continuation
        } else if let Some(rest) = t.strip_prefix('[') {
            let close = rest
                .rfind(']')
                .ok_or_else(|| format!("line {n}: a section header without ']'"))?;
            let after = rest[close + 1..].trim();
            if !(after.is_empty() || after.starts_with('#') || after.starts_with(';')) {
                return Err(format!("line {n}: text after a section header"));
            }
            let name = section_name(&rest[..close]);
            if name.is_empty() {
                return Err(format!("line {n}: an empty section name"));
            }
            if sections.contains(&name) {
                return Err(format!("line {n}: section [{name}] appears twice"));
            }
            sections.push(name.clone());
            keys.clear();
            in_section = true;
            Kind::Section(name)
        } else {
            let pos = t.find(['=', ':']).ok_or_else(|| {
                format!("line {n}: neither a section, a key = value nor a comment")
            })?;
            let key = t[..pos].trim().to_ascii_lowercase();
            if key.is_empty() {
                return Err(format!("line {n}: a value without a key"));
            }
            if !in_section {
                return Err(format!("line {n}: a key before the first [section]"));
            }
            if keys.contains(&key) {
                return Err(format!(
                    "line {n}: key '{}' appears twice in its section",
                    one_line(&key)
                ));
            }
            keys.push(key.clone());
            Kind::Key(key, indent_of(body))
        };
        match &kind {
            Kind::Key(_, ind) => key_indent = Some(*ind),
            Kind::Section(_) => key_indent = None,
            _ => {}
        }
        out.push(Line { text, kind });
    }
    Ok(out)
}

/// The section name for an AWS profile in the config file.
pub fn wanted_section(aws_profile: &str) -> String {
    if aws_profile == "default" {
        "default".into()
    } else {
        format!("profile {aws_profile}")
    }
}

fn check_profile_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.trim() != name
        || name
            .chars()
            .any(|c| c.is_control() || matches!(c, '[' | ']' | '"' | '#' | ';'));
    if bad {
        return Err(Error::Config(format!(
            "'{}' is not a usable AWS profile name",
            one_line(name)
        )));
    }
    Ok(())
}

/// Result of [`edit`]: the new text and the keys of the section that AWS tools use before
/// `credential_process`.
pub struct Edited {
    /// The whole new file.
    pub text: String,
    /// Keys that win over `credential_process` in botocore's order.
    pub shadowing: Vec<String>,
}

/// Sets `credential_process = <value>` in the profile's section of `old`.
pub fn edit(path: &Path, old: &str, aws_profile: &str, value: &str) -> Result<Edited> {
    let lines = parse(old).map_err(|e| super::unparsable(path, &e))?;
    let nl = if old.contains("\r\n") { "\r\n" } else { "\n" };
    let wanted_line = format!("credential_process = {value}");
    let mut names = vec![wanted_section(aws_profile)];
    if aws_profile == "default" {
        names.push("profile default".into());
    }
    let start = names.iter().find_map(|want| {
        lines
            .iter()
            .position(|l| matches!(&l.kind, Kind::Section(s) if s == want))
    });
    let mut out = String::with_capacity(old.len() + wanted_line.len() + 32);
    let mut shadowing = Vec::new();
    match start {
        Some(s) => {
            let end = lines[s + 1..]
                .iter()
                .position(|l| matches!(l.kind, Kind::Section(_)))
                .map(|p| s + 1 + p)
                .unwrap_or(lines.len());
            let existing = (s + 1..end)
                .find(|&i| matches!(&lines[i].kind, Kind::Key(k, _) if k == "credential_process"));
            for l in &lines[s + 1..end] {
                if let Kind::Key(k, _) = &l.kind {
                    let shadows = matches!(
                        k.as_str(),
                        "role_arn" | "web_identity_token_file" | "sso_session" | "sso_start_url"
                    );
                    if shadows {
                        shadowing.push(k.clone());
                    }
                }
            }
            let (replace_from, replace_to, insert_at) = match existing {
                Some(i) => {
                    let mut j = i + 1;
                    while j < end && lines[j].kind == Kind::Continuation {
                        j += 1;
                    }
                    (i, j, i)
                }
                None => {
                    let last = (s + 1..end)
                        .rev()
                        .find(|&i| matches!(lines[i].kind, Kind::Key(..) | Kind::Continuation))
                        .unwrap_or(s);
                    (last + 1, last + 1, last + 1)
                }
            };
            for (i, l) in lines.iter().enumerate() {
                if i == insert_at {
                    // Keep the old line's own ending (or add one when it was the last line).
                    let ending = match existing {
                        Some(e) if lines[e].text.ends_with("\r\n") => "\r\n",
                        Some(e) if lines[e].text.ends_with('\n') => "\n",
                        _ => nl,
                    };
                    if i > 0 && !lines[i - 1].text.ends_with('\n') {
                        out.push_str(nl);
                    }
                    out.push_str(&wanted_line);
                    out.push_str(ending);
                }
                if (replace_from..replace_to).contains(&i) {
                    continue;
                }
                out.push_str(l.text);
            }
            if insert_at == lines.len() {
                if !out.ends_with('\n') {
                    out.push_str(nl);
                }
                out.push_str(&wanted_line);
                out.push_str(nl);
            }
            // An unchanged line keeps the file's bytes, even a missing final newline.
            if let Some(e) = existing {
                if lines[e].text.trim_end_matches(['\n', '\r']) == wanted_line
                    && replace_to == e + 1
                {
                    out = old.to_string();
                }
            }
        }
        None => {
            out.push_str(old);
            if !out.is_empty() {
                if !out.ends_with('\n') {
                    out.push_str(nl);
                }
                if !out.ends_with(&format!("{nl}{nl}")) && out != nl {
                    out.push_str(nl);
                }
            }
            let name = aws_profile;
            let header = if name == "default" {
                "[default]".to_string()
            } else if name.contains([' ', '\t']) {
                format!("[profile \"{name}\"]")
            } else {
                format!("[profile {name}]")
            };
            out.push_str(&header);
            out.push_str(nl);
            out.push_str(&wanted_line);
            out.push_str(nl);
        }
    }
    Ok(Edited {
        text: out,
        shadowing,
    })
}

/// The text without the `credential_process` lines that run entra-credential-process (in
/// `aws_profile`'s section, or in every section); a section left with nothing but its header
/// goes too, with the blank line setup put before it. Returns the new text and the sections.
pub fn remove(path: &Path, old: &str, aws_profile: Option<&str>) -> Result<(String, Vec<String>)> {
    let lines = parse(old).map_err(|e| super::unparsable(path, &e))?;
    let wanted: Vec<String> = match aws_profile {
        Some("default") => vec!["default".into(), "profile default".into()],
        Some(p) => vec![wanted_section(p)],
        None => Vec::new(),
    };
    let mut drop = vec![false; lines.len()];
    let mut sections = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Kind::Section(name) = &lines[i].kind else {
            i += 1;
            continue;
        };
        let end = lines[i + 1..]
            .iter()
            .position(|l| matches!(l.kind, Kind::Section(_)))
            .map(|p| i + 1 + p)
            .unwrap_or(lines.len());
        if wanted.is_empty() || wanted.contains(name) {
            for k in i + 1..end {
                let ours = matches!(&lines[k].kind, Kind::Key(key, _) if key == "credential_process")
                    && lines[k].text.contains("entra-credential-process");
                if ours {
                    drop[k] = true;
                    let mut j = k + 1;
                    while j < end && lines[j].kind == Kind::Continuation {
                        drop[j] = true;
                        j += 1;
                    }
                    sections.push(name.clone());
                }
            }
            let empty = (i + 1..end).all(|k| drop[k] || lines[k].kind == Kind::Blank);
            let any = (i + 1..end).any(|k| drop[k]);
            if any && empty && !lines[i].text.contains(['#', ';']) {
                drop[i] = true;
                // The blank line setup put before an appended section.
                let last_kept = (i + 1..end).rev().find(|&k| !drop[k]);
                if last_kept.is_none() && i > 0 && lines[i - 1].kind == Kind::Blank {
                    drop[i - 1] = true;
                }
            }
        }
        i = end;
    }
    let text = lines
        .iter()
        .zip(&drop)
        .filter(|(_, d)| !**d)
        .map(|(l, _)| l.text)
        .collect();
    Ok((text, sections))
}

/// Whether the shared credentials file has static keys for this profile (they win over
/// `credential_process`).
fn has_static_credentials(aws_profile: &str) -> Option<PathBuf> {
    let path = credentials_path()?;
    let text = std::fs::read_to_string(&path).ok()?;
    let lines = parse(&text).ok()?;
    let mut in_it = false;
    for l in lines {
        match l.kind {
            Kind::Section(s) => in_it = s == aws_profile,
            Kind::Key(k, _) if in_it && k == "aws_access_key_id" => return Some(path),
            _ => {}
        }
    }
    None
}

/// `setup aws --remove`.
fn run_remove(args: &Args) -> Result<()> {
    let file = ConfigFile::read(config_path()?)?;
    let (new, sections) = remove(&file.target, file.old_text(), args.aws_profile.as_deref())?;
    let what = if sections.is_empty() {
        "no credential_process runs entra-credential-process".to_string()
    } else {
        format!(
            "[{}] no longer get credentials from entra-credential-process",
            sections.join("], [")
        )
    };
    file.apply_removal(&new, args.dry_run, &what)?;
    Ok(())
}

/// Runs `setup aws` (or `setup aws --remove`).
pub fn run(args: &Args, profile: Option<&str>) -> Result<()> {
    if args.remove {
        return run_remove(args);
    }
    super::check_profile(profile)?;
    let aws_profile = args.aws_profile.clone().unwrap_or_default();
    let scope = args.scope.clone().unwrap_or_default();
    check_profile_name(&aws_profile)?;
    if scope.trim().is_empty() || scope.chars().any(char::is_whitespace) {
        return Err(Error::Config(
            "--scope must be one word, e.g. api://<application id>/.default".into(),
        ));
    }
    let program = super::sibling_binary("entra-credential-process");
    let value = command_line(program.as_deref(), args, profile);
    let file = ConfigFile::read(config_path()?)?;
    let edited = edit(&file.target, file.old_text(), &aws_profile, &value)?;
    let section = if aws_profile == "default" {
        "[default]".to_string()
    } else {
        format!("[profile {aws_profile}]")
    };
    let outcome = file.apply(
        &edited.text,
        args.dry_run,
        &format!("{section} gets its credentials from entra-credential-process"),
    )?;
    if program.is_none() {
        eprintln!(
            "note: entra-credential-process is not installed next to entra-cred; AWS tools will look for it on PATH"
        );
    }
    for k in &edited.shadowing {
        eprintln!(
            "warning: {section} also sets {k}, which AWS tools use before credential_process: remove it for credential_process to take effect"
        );
    }
    if let Some(c) = has_static_credentials(&aws_profile) {
        eprintln!(
            "warning: {} has aws_access_key_id for [{aws_profile}], which AWS tools use before credential_process: remove it for credential_process to take effect",
            c.display(),
        );
    }
    if args.role_arn.is_none() {
        eprintln!(
            "note: without --role-arn this is token mode: AWS services reject these credentials; give --role-arn to get real AWS credentials from STS"
        );
    }
    let shown = if aws_profile == "default" {
        String::new()
    } else {
        format!(" --profile {aws_profile}")
    };
    if outcome != Outcome::WouldChange && args.role_arn.is_some() {
        eprintln!("Try: aws sts get-caller-identity{shown}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(old: &str, profile: &str, value: &str) -> String {
        edit(Path::new("c"), old, profile, value).unwrap().text
    }

    #[test]
    fn appends_a_missing_section() {
        assert_eq!(e("", "dev", "X"), "[profile dev]\ncredential_process = X\n");
        assert_eq!(
            e("[default]\nregion = a", "dev", "X"),
            "[default]\nregion = a\n\n[profile dev]\ncredential_process = X\n"
        );
        assert_eq!(
            e("[default]\nregion = a\n\n", "default", "X"),
            "[default]\nregion = a\ncredential_process = X\n\n"
        );
        assert_eq!(e("", "default", "X"), "[default]\ncredential_process = X\n");
    }

    #[test]
    fn replaces_in_place_and_keeps_the_rest() {
        let old = "# top\n[profile dev]\nregion = a\nCredential_Process = old\n  continued\noutput = json\n# about prod\n[profile prod]\nregion = b\n";
        assert_eq!(
            e(old, "dev", "X"),
            "# top\n[profile dev]\nregion = a\ncredential_process = X\noutput = json\n# about prod\n[profile prod]\nregion = b\n"
        );
        // Inserted after the last key, before the comment that belongs to the next section.
        let old = "[profile dev]\nregion = a\n\n# about prod\n[profile prod]\n";
        assert_eq!(
            e(old, "dev", "X"),
            "[profile dev]\nregion = a\ncredential_process = X\n\n# about prod\n[profile prod]\n"
        );
        // Nested values stay with their key.
        let old = "[profile dev]\ns3 =\n  max_concurrent_requests = 10\n[profile x]\n";
        assert_eq!(
            e(old, "dev", "X"),
            "[profile dev]\ns3 =\n  max_concurrent_requests = 10\ncredential_process = X\n[profile x]\n"
        );
    }

    #[test]
    fn unchanged_keeps_bytes_and_crlf() {
        let old = "[profile dev]\r\ncredential_process = X";
        assert_eq!(e(old, "dev", "X"), old);
        assert_eq!(
            e("[profile a]\r\nregion = b\r\n", "dev", "X"),
            "[profile a]\r\nregion = b\r\n\r\n[profile dev]\r\ncredential_process = X\r\n"
        );
        assert_eq!(
            e("[profile \"dev\"]\nregion = b\n", "dev", "X"),
            "[profile \"dev\"]\nregion = b\ncredential_process = X\n"
        );
    }

    #[test]
    fn refuses_what_configparser_refuses() {
        for bad in [
            "region = a\n",
            "[profile a\n",
            "[profile a]\njunk\n",
            "[profile a]\n[profile a]\n",
            "[profile a]\nx = 1\nx = 2\n",
        ] {
            let err = edit(Path::new("c"), bad, "a", "X").err().expect(bad);
            assert_eq!(err.exit_code(), 2);
        }
    }

    #[test]
    fn remove_gives_back_the_bytes() {
        let v = "\"/b/entra-credential-process\" --scope s";
        for old in [
            "",
            "[default]\nregion = a",
            "[default]\nregion = a\n",
            "# c\n[profile dev]\nregion = a\n\n[profile x]\ny = 1\n",
            "[profile a]\r\nregion = b\r\n",
        ] {
            for p in ["dev", "default", "x"] {
                let new = e(old, p, v);
                let (back, s) = remove(Path::new("c"), &new, Some(p)).unwrap();
                assert_eq!(
                    back,
                    old.to_string() + if old.ends_with('a') { "\n" } else { "" },
                    "{p} in {new:?}"
                );
                assert_eq!(s.len(), 1);
                let (again, none) = remove(Path::new("c"), &back, None).unwrap();
                assert_eq!((again, none.len()), (back, 0));
            }
        }
        // Another tool's credential_process stays; a named profile limits the removal.
        let old = "[profile a]\ncredential_process = other\n[profile b]\ncredential_process = entra-credential-process --scope s\n";
        assert_eq!(remove(Path::new("c"), old, Some("a")).unwrap().0, old);
        assert_eq!(
            remove(Path::new("c"), old, None).unwrap().0,
            "[profile a]\ncredential_process = other\n"
        );
    }

    #[test]
    fn command_lines() {
        let args = Args {
            aws_profile: Some("dev".into()),
            scope: Some("api://app/.default".into()),
            role_arn: Some("arn:aws:iam::123456789012:role/r".into()),
            role_session_name: None,
            duration_seconds: Some(900),
            region: None,
            dry_run: false,
            remove: false,
        };
        assert_eq!(
            command_line(Some(Path::new("/My Bin/entra-credential-process")), &args, Some("w")),
            "\"/My Bin/entra-credential-process\" -p w --scope api://app/.default --role-arn arn:aws:iam::123456789012:role/r --duration-seconds 900"
        );
        assert_eq!(
            command_line(None, &args, None),
            "entra-credential-process --scope api://app/.default --role-arn arn:aws:iam::123456789012:role/r --duration-seconds 900"
        );
        assert_eq!(quote_path("/a$b/x"), "'/a$b/x'");
    }
}
