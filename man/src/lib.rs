//! The man pages of entra-cred's binaries, rendered from their clap definitions.
//!
//! Each binary's unit tests hold one line, `#[cfg(test)] entra_cred_man::man_page_test!(Args);`,
//! which renders the page from the same `clap::Command` that parses its command line and compares
//! it with the committed `man/man1/<binary>.1`. The test fails when they differ (an option was
//! added, a help text changed), so the pages never drift from `--help`;
//! `ENTRA_CRED_UPDATE_MAN=1 cargo test --workspace man_page` rewrites them.
//!
//! This crate is only a dev-dependency: clap_mangen is linked into test binaries, never into the
//! shipped helpers. The words clap cannot know (the protocol a helper speaks, how its tool is
//! configured, files, environment, exit codes) are in [`prose`].

pub mod prose;

use clap::{Arg, Command};
use prose::{Block, Section};
use roff::{bold, roman, Inline, Roff};
use std::path::PathBuf;

/// The variable that makes [`check`] rewrite the committed page instead of failing.
pub const UPDATE_VAR: &str = "ENTRA_CRED_UPDATE_MAN";

/// The manual every page belongs to (the centre of the page footer).
const MANUAL: &str = "entra-cred manual";

/// The roff crate starts every rendering with this definition; the page gets it once.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// The directory of the committed pages (`man/man1`).
pub fn pages_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man1")
}

/// The man page (section 1) of the binary that `cmd` parses the command line of.
pub fn render(cmd: Command) -> String {
    let mut cmd = command_words(cmd.disable_help_subcommand(true));
    cmd.build();
    let name = cmd.get_name().to_string();
    let version = cmd.get_version().unwrap_or_default().to_string();
    let man = clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .source(format!("entra-cred {version}"))
        .manual(MANUAL);

    let mut out = String::from(PREAMBLE);
    out += &piece(|w| man.render_title(w));
    out += &piece(|w| man.render_name_section(w));
    out += &piece(|w| man.render_synopsis_section(w));
    out += &piece(|w| man.render_description_section(w));
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        out += &piece(|w| man.render_options_section(w));
    }
    let subs = visible_subcommands(&cmd);
    if !subs.is_empty() {
        out += &commands_overview(&cmd, &subs);
        for sub in subs {
            out += &subcommand_section(sub, 0);
        }
    }
    for section in prose::sections(&name) {
        out += &prose_section(section);
    }
    out
}

/// Renders `cmd`'s page and compares it with the committed one (see the crate docs): the body of
/// the test that [`man_page_test!`] writes.
///
/// # Panics
/// When the committed page differs from the rendering, or cannot be read or written: this is a
/// test assertion.
pub fn check(cmd: Command) {
    let page = render(cmd.clone());
    let path = pages_dir().join(format!("{}.1", cmd.get_name()));
    let update = std::env::var_os(UPDATE_VAR).is_some_and(|v| !v.is_empty() && v != "0");
    if let Err(e) = compare(&page, &path, update) {
        panic!("{e}");
    }
}

/// Compares `page` with the file at `path`; with `update`, writes it there instead when they
/// differ. The error says what differs and how to regenerate.
fn compare(page: &str, path: &std::path::Path, update: bool) -> Result<(), String> {
    let committed = std::fs::read_to_string(path);
    if update {
        if committed.ok().as_deref() != Some(page) {
            std::fs::write(path, page)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        return Ok(());
    }
    let regenerate = format!(
        "regenerate it with `{UPDATE_VAR}=1 cargo test --workspace man_page` and commit it"
    );
    let committed =
        committed.map_err(|e| format!("cannot read {} ({e}): {regenerate}", path.display()))?;
    if committed == page {
        return Ok(());
    }
    let lines = committed.lines().count().max(page.lines().count()) + 1;
    let (n, old, new) = committed
        .lines()
        .chain(std::iter::repeat(""))
        .zip(page.lines().chain(std::iter::repeat("")))
        .take(lines)
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i + 1, a, b))
        // Same lines: they differ in line endings.
        .unwrap_or((lines, "(line endings)", "(line endings)"));
    Err(format!(
        "{} is not what the clap definitions render (first difference at line {n}:\n  committed: {old}\n  rendered:  {new})\n{regenerate}",
        path.display()
    ))
}

/// Writes the test that keeps a binary's committed man page equal to what its clap definitions
/// render. Put `#[cfg(test)] entra_cred_man::man_page_test!(Args);` in the binary's `main.rs`,
/// where `Args` is the type it parses its command line into.
#[macro_export]
macro_rules! man_page_test {
    ($cli:ty) => {
        #[test]
        fn man_page_is_current() {
            $crate::check(<$cli as ::clap::CommandFactory>::command());
        }
    };
}

/// Names the subcommand placeholder `COMMAND` in every synopsis, as `--help`'s usage line does
/// (clap_mangen would say `subcommands`).
fn command_words(mut cmd: Command) -> Command {
    if cmd.has_subcommands() && cmd.get_subcommand_value_name().is_none() {
        cmd = cmd.subcommand_value_name("COMMAND");
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, command_words);
    }
    cmd
}

/// One clap_mangen section as roff text, without the preamble.
fn piece(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = f(&mut buf);
    let s = String::from_utf8_lossy(&buf).into_owned();
    match s.strip_prefix(PREAMBLE) {
        Some(rest) => rest.to_string(),
        None => s,
    }
}

/// A rendered piece without its `.SH` heading lines (the caller gives it its own heading).
fn without_headings(s: String) -> String {
    s.lines()
        .filter(|l| !l.starts_with(".SH "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A [`Roff`] as text, without the preamble.
fn roff_text(r: &Roff) -> String {
    piece(|w| r.to_writer(w))
}

fn visible_subcommands(cmd: &Command) -> Vec<&Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect()
}

/// The list of subcommands with their one-line descriptions.
fn commands_overview(cmd: &Command, subs: &[&Command]) -> String {
    let mut r = Roff::new();
    r.control("SH", ["COMMANDS"]);
    for sub in subs {
        r.control("TP", []);
        r.text([bold(full_name(cmd, sub))]);
        if let Some(about) = sub.get_about() {
            r.text([roman(about.to_string())]);
        }
    }
    roff_text(&r)
}

/// `entra-cred setup git`: the words that run a subcommand.
fn full_name(parent: &Command, sub: &Command) -> String {
    sub.get_bin_name()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{} {}", parent.get_name(), sub.get_name()))
}

/// A section (depth 0) or subsection (depth 1 and more) for one subcommand: what it does, its
/// synopsis and its own options (the global ones are in OPTIONS), then its own subcommands.
fn subcommand_section(sub: &Command, depth: usize) -> String {
    let title = sub.get_bin_name().unwrap_or(sub.get_name()).to_string();
    let mut r = Roff::new();
    if depth == 0 {
        r.control("SH", [title.to_uppercase().as_str()]);
    } else {
        r.control("SS", [title.as_str()]);
    }
    let mut out = roff_text(&r);

    // Only what this subcommand adds: help, version and the global options are documented once.
    let mut own = sub.clone();
    let inherited: Vec<String> = sub
        .get_arguments()
        .filter(|a| is_inherited(a))
        .map(|a| a.get_id().to_string())
        .collect();
    for id in &inherited {
        own = own.mut_arg(id, |a| a.hide(true));
    }
    let man = clap_mangen::Man::new(own.clone());
    out += &without_headings(piece(|w| man.render_description_section(w)));
    let mut p = Roff::new();
    p.control("PP", []);
    out += &roff_text(&p);
    out += &without_headings(piece(|w| man.render_synopsis_section(w)));
    if own.get_arguments().any(|a| !a.is_hide_set()) {
        out += &without_headings(piece(|w| man.render_options_section(w)));
    }
    for s in visible_subcommands(sub) {
        out += &subcommand_section(s, depth + 1);
    }
    out
}

/// help, version and global options, which every subcommand repeats after `build()`.
fn is_inherited(a: &Arg) -> bool {
    a.is_global_set() || matches!(a.get_id().as_str(), "help" | "version")
}

/// A prose section: paragraphs, definition lists and examples.
fn prose_section(s: &Section) -> String {
    let mut r = Roff::new();
    r.control("SH", [s.title]);
    for (i, b) in s.blocks.iter().enumerate() {
        match b {
            Block::P(text) => {
                if i > 0 {
                    r.control("PP", []);
                }
                r.text(inline(text));
            }
            Block::Item(term, text) => {
                r.control("TP", []);
                r.text(inline(term));
                r.text(inline(text));
            }
            Block::Example(text) => {
                r.control("PP", []);
                r.control("RS", ["4"]);
                r.control("nf", []);
                for line in text.lines() {
                    r.text([roman(line)]);
                }
                r.control("fi", []);
                r.control("RE", []);
            }
        }
    }
    roff_text(&r)
}

/// Prose text: words between backticks are set in bold (commands, options, file names).
fn inline(text: &str) -> Vec<Inline> {
    text.split('`')
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .map(|(i, s)| if i % 2 == 1 { bold(s) } else { roman(s) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Parser, Subcommand};

    // A small CLI shaped like entra-cred's: global option, subcommands, a nested subcommand.
    /// Does demo things.
    #[derive(Parser)]
    #[command(name = "demo-tool", version = "1.2.3")]
    struct Demo {
        /// A global option.
        #[arg(short = 'p', long, global = true, value_name = "NAME")]
        profile: Option<String>,
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[derive(Subcommand)]
    enum Cmd {
        /// Signs in.
        Login {
            /// The scope.
            #[arg(long)]
            scope: Option<String>,
        },
        /// Wires tools.
        Setup {
            #[command(subcommand)]
            tool: Tool,
        },
    }

    #[derive(Subcommand)]
    enum Tool {
        /// The git tool.
        Git {
            /// A host.
            #[arg(long = "host-name")]
            host: Vec<String>,
        },
    }

    fn page() -> String {
        render(<Demo as clap::CommandFactory>::command())
    }

    #[test]
    fn title_name_and_one_preamble() {
        let p = page();
        assert!(p.starts_with(PREAMBLE), "{p}");
        assert_eq!(
            p.matches("ds Aq").count(),
            2,
            "one preamble (two lines):\n{p}"
        );
        assert!(
            p.contains(".TH DEMO\\-TOOL 1  \"entra\\-cred 1.2.3\" \"entra\\-cred manual\"")
                || p.contains(".TH DEMO-TOOL 1  \"entra-cred 1.2.3\" \"entra-cred manual\""),
            "{p}"
        );
        assert!(p.contains("demo\\-tool \\- Does demo things\n"), "{p}");
    }

    #[test]
    fn a_section_per_subcommand_with_its_own_options_only() {
        let p = page();
        let login = p.find(".SH \"DEMO-TOOL LOGIN\"").expect("login section");
        let setup = p.find(".SH \"DEMO-TOOL SETUP\"").expect("setup section");
        assert!(login < setup);
        let login_part = &p[login..setup];
        assert!(login_part.contains("\\-\\-scope"), "{login_part}");
        assert!(
            !login_part.contains("\\-\\-profile"),
            "global option repeated:\n{login_part}"
        );
        assert!(!login_part.contains("\\-\\-help"), "{login_part}");
        assert!(!login_part.contains(".SH SYNOPSIS"), "{login_part}");
        // The nested subcommand is a subsection of its parent.
        let git = p
            .find(".SS \"demo-tool setup git\"")
            .expect("git subsection");
        assert!(git > setup);
        assert!(p[git..].contains("\\-\\-host\\-name"), "{p}");
        // The global option is documented once, in OPTIONS.
        assert_eq!(
            p.matches("\\fB\\-\\-profile\\fR").count(),
            2,
            "OPTIONS and SYNOPSIS:\n{p}"
        );
        // No help subcommand, and no pointers to per-subcommand pages that do not exist.
        assert!(!p.contains("HELP"), "{p}");
        assert!(!p.contains("demo\\-tool\\-login(1)"), "{p}");
        assert!(p.contains("<\\fIcommand\\fR>"), "{p}");
    }

    #[test]
    fn compare_fails_on_drift_and_update_rewrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("demo-tool.1");
        let p = page();
        let missing = compare(&p, &path, false).expect_err("no committed page");
        assert!(missing.contains("cannot read"), "{missing}");
        compare(&p, &path, true).expect("update writes");
        assert_eq!(std::fs::read_to_string(&path).expect("written"), p);
        compare(&p, &path, false).expect("equal after update");
        let changed = p.replace("Signs in", "Logs in");
        let e = compare(&changed, &path, false).expect_err("drift");
        assert!(
            e.contains("committed: Signs in") && e.contains("rendered:  Logs in"),
            "{e}"
        );
        assert!(e.contains("ENTRA_CRED_UPDATE_MAN=1"), "{e}");
        let crlf = p.replace('\n', "\r\n");
        let e = compare(&crlf, &path, false).expect_err("line endings");
        assert!(e.contains("line endings"), "{e}");
    }

    #[test]
    fn backticks_are_bold_and_roff_is_escaped() {
        let r = {
            let mut r = Roff::new();
            r.text(inline("run `entra-cred login` then .done"));
            roff_text(&r)
        };
        assert_eq!(r, "run \\fBentra\\-cred login\\fR then .done\n");
        let starts_with_dot = {
            let mut r = Roff::new();
            r.text(inline(".profile"));
            roff_text(&r)
        };
        assert!(starts_with_dot.starts_with("\\&."), "{starts_with_dot}");
    }
}
