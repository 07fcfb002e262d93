#!/usr/bin/env bash
# One definition for each rule (issue 18, docs/architecture.md "Where each rule lives").
#
# For each rule: a pattern that only its definition contains, and the one file allowed to
# contain it. Reads the non-test code of core/src and helpers/*/src (everything above a
# file's `#[cfg(test)] mod ...`). Prints each rule with the lines that match; exits 1 when a
# rule is written anywhere else, or when its definition is gone (a renamed definition must
# rename its row here, so this table keeps telling a newcomer where each rule lives).
set -euo pipefail
cd "$(dirname "$0")/.."

nontest() {
  git ls-files -co --exclude-standard 'core/src/*.rs' 'helpers/*/src/*.rs' | sort -u | while read -r f; do
    awk -v F="$f" '
      /^#\[cfg\(test\)\]/ { pending = 1; next }
      pending && /^#\[/ { next }
      pending && /^(pub(\(crate\))? )?mod [a-z_]+ *\{/ { exit }
      pending && /^(pub(\(crate\))? )?mod [a-z_]+;/ { pending = 0; next }
      { pending = 0; print F ":" NR ":" $0 }' "$f"
  done
}

code=$(nontest)
fail=0
# rule @ extended regex @ the one file
while IFS='@' read -r rule regex home; do
  [ -z "$rule" ] && continue
  hits=$(grep -E -- "$regex" <<<"$code" || true)
  files=$(cut -d: -f1 <<<"$hits" | sort -u | grep -v '^$' || true)
  if [ "$files" = "$home" ]; then
    printf 'ok    %-58s %s\n' "$rule" "$home"
  else
    fail=1
    printf 'FAIL  %-58s expected only in %s, found in:\n' "$rule" "$home"
    sed 's/^/        /' <<<"${hits:-(nowhere)}"
  fi
done <<'RULES'
atomic file replace (temp file + rename)@fs::rename\(@core/src/atomic.rs
a user's config file: follow the symlink, keep the mode@fn write_target@core/src/atomic.rs
https, or http only to loopback@\.is_loopback\(\)@core/src/net.rs
which proxy a request goes through (variables, NO_PROXY)@"HTTPS_PROXY", "https_proxy"@core/src/proxy.rs
the cloud table (names, authority, ARM, ACR suffix)@"\.azurecr\.(io|cn|us)"@core/src/cloud.rs
cloud-name aliases@"azureusgovernment@core/src/cloud.rs
host[:port] split (IPv6 brackets)@fn split_port@core/src/hostport.rs
host list matching (entry with or without port)@fn listed_in@core/src/hostport.rs
a number or a numeric string in server JSON@fn number\(@core/src/json.rs
reading an Entra / Azure error body@get\("error_codes"\)@core/src/azure_error.rs
reading STS XML@roxmltree::Document@core/src/protocol/sts_xml.rs
the unified diff of setup --dry-run@similar::@helpers/entra-cred/src/setup/diff.rs
quoting a word for a POSIX shell@fn sh_quote@helpers/entra-cred/src/setup/mod.rs
exit codes@fn exit_code\(@core/src/error.rs
the token-source registry@registry! \{@core/src/sources/mod.rs
owner check of cache files@fn check_owner@core/src/cache/file.rs
the hint for a missing profile (doctor)@add \[profiles\.\{@helpers/entra-cred/src/doctor/mod.rs
RULES

# The cycle the issue named: the HTTP layer does not depend on the Entra client.
if grep -E '^core/src/http\.rs:[0-9]+:.*crate::entra\b' <<<"$code"; then
  echo "FAIL  core/src/http.rs uses crate::entra (the entra <-> http cycle)"
  fail=1
else
  printf 'ok    %-58s %s\n' "http does not depend on entra (no cycle)" "core/src/http.rs"
fi
exit $fail
