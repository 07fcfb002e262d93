//! A small line-based unified diff (3 lines of context) for `setup --dry-run`.
//!
//! Configuration files are small and our edits are local, so the common prefix and suffix are
//! trimmed first and a plain LCS runs on what is left (bounded: beyond that it falls back to
//! "remove all, add all" for the middle, which is still a correct diff).

const CONTEXT: usize = 3;
const LCS_LIMIT: usize = 4_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Del,
    Add,
}

/// The unified diff from `old` to `new`, with `--- a` / `+++ b` headers; empty when equal.
pub fn unified(a: &str, b: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let o: Vec<&str> = split_lines(old);
    let n: Vec<&str> = split_lines(new);
    let ops = edit_script(&o, &n);
    let mut out = format!("--- {a}\n+++ {b}\n");
    // Walk the script, grouping changes with their context into hunks.
    // Each entry: (op, old index, new index).
    let mut entries = Vec::with_capacity(ops.len());
    let (mut i, mut j) = (0usize, 0usize);
    for op in ops {
        entries.push((op, i, j));
        match op {
            Op::Keep => {
                i += 1;
                j += 1;
            }
            Op::Del => i += 1,
            Op::Add => j += 1,
        }
    }
    let changed: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.0 != Op::Keep)
        .map(|(k, _)| k)
        .collect();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 2 * CONTEXT + 1 {
            end = changed[k];
            k += 1;
        }
        let end = (end + CONTEXT + 1).min(entries.len());
        let hunk = &entries[start..end];
        let (oi, nj) = (hunk[0].1, hunk[0].2);
        let ocount = hunk.iter().filter(|e| e.0 != Op::Add).count();
        let ncount = hunk.iter().filter(|e| e.0 != Op::Del).count();
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(oi, ocount),
            range(nj, ncount)
        ));
        for &(op, oi, nj) in hunk {
            let (sign, line) = match op {
                Op::Keep => (' ', o[oi]),
                Op::Del => ('-', o[oi]),
                Op::Add => ('+', n[nj]),
            };
            out.push(sign);
            out.push_str(line.strip_suffix('\n').unwrap_or(line));
            out.push('\n');
            if !line.ends_with('\n') {
                out.push_str("\\ No newline at end of file\n");
            }
        }
    }
    out
}

fn range(start: usize, count: usize) -> String {
    match count {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        c => format!("{},{c}", start + 1),
    }
}

/// Lines with their newline kept (so a missing final newline shows).
fn split_lines(s: &str) -> Vec<&str> {
    s.split_inclusive('\n').collect()
}

fn edit_script(o: &[&str], n: &[&str]) -> Vec<Op> {
    let prefix = o.iter().zip(n).take_while(|(a, b)| a == b).count();
    let suffix = o[prefix..]
        .iter()
        .rev()
        .zip(n[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let om = &o[prefix..o.len() - suffix];
    let nm = &n[prefix..n.len() - suffix];
    let mut ops = vec![Op::Keep; prefix];
    if om.len().saturating_mul(nm.len()) > LCS_LIMIT {
        ops.extend(std::iter::repeat_n(Op::Del, om.len()));
        ops.extend(std::iter::repeat_n(Op::Add, nm.len()));
    } else {
        // lcs[i][j] = LCS length of om[i..], nm[j..]
        let w = nm.len() + 1;
        let mut lcs = vec![0u32; (om.len() + 1) * w];
        for i in (0..om.len()).rev() {
            for j in (0..nm.len()).rev() {
                lcs[i * w + j] = if om[i] == nm[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < om.len() || j < nm.len() {
            if i < om.len() && j < nm.len() && om[i] == nm[j] {
                ops.push(Op::Keep);
                i += 1;
                j += 1;
            } else if i < om.len() && (j == nm.len() || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])
            {
                ops.push(Op::Del);
                i += 1;
            } else {
                ops.push(Op::Add);
                j += 1;
            }
        }
    }
    ops.extend(std::iter::repeat_n(Op::Keep, suffix));
    ops
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
