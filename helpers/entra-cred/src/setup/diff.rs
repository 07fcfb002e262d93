//! The line-based unified diff (3 lines of context) that `setup --dry-run` prints, on the
//! `similar` crate (Myers' algorithm, hunks and headers in the `diff -u` format).
//!
//! Lines end at `\n` only (a `\r` stays part of its line, as `git diff` shows it), and a
//! missing final newline is shown with `\ No newline at end of file`.

use similar::{Algorithm, TextDiff};

const CONTEXT: usize = 3;

/// The unified diff from `old` to `new`, with `--- a` / `+++ b` headers; empty when equal.
pub fn unified(a: &str, b: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    // Lines with their newline kept, so that a missing final newline shows.
    let o: Vec<&str> = old.split_inclusive('\n').collect();
    let n: Vec<&str> = new.split_inclusive('\n').collect();
    TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .newline_terminated(true)
        .diff_slices(&o, &n)
        .unified_diff()
        .context_radius(CONTEXT)
        .header(a, b)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::unified;

    #[test]
    fn equal_is_empty() {
        assert_eq!(unified("a", "b", "x\n", "x\n"), "");
    }

    #[test]
    fn insertion_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let new = "1\n2\n3\n4\nnew\n5\n6\n7\n8\n";
        assert_eq!(
            unified("f", "f", old, new),
            "--- f\n+++ f\n@@ -2,6 +2,7 @@\n 2\n 3\n 4\n+new\n 5\n 6\n 7\n"
        );
    }

    #[test]
    fn replacement_and_new_file() {
        assert_eq!(
            unified("f", "f", "a\nb\nc\n", "a\nB\nc\n"),
            "--- f\n+++ f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
        assert_eq!(
            unified("/dev/null", "f", "", "x\n"),
            "--- /dev/null\n+++ f\n@@ -0,0 +1 @@\n+x\n"
        );
    }

    #[test]
    fn missing_final_newline_is_shown() {
        assert_eq!(
            unified("f", "f", "a", "a\nb\n"),
            "--- f\n+++ f\n@@ -1 +1,2 @@\n-a\n\\ No newline at end of file\n+a\n+b\n"
        );
    }

    #[test]
    fn far_apart_changes_make_two_hunks() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new = old.replace("2\n", "two\n").replace("19\n", "nineteen\n");
        let d = unified("f", "f", &old, &new);
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
    }
}
