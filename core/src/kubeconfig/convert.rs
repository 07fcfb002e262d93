//! The conversion itself: [`convert`] finds the AKS users of a kubeconfig
//! (legacy `azure` auth-provider, `kubelogin get-token` exec) and rewrites each
//! to an `exec` of `kubectl-entra`, keeping every other key, user, cluster and
//! context as it was, in the same order. Pure: text in, text out.

use super::translate::{from_auth_provider, from_kubelogin, new_args};
use super::yaml::{emit, get, get_str, leading_comments, parse, s, splice_users};
use super::{COMMAND, EXEC_API_VERSION, INSTALL_HINT};
use crate::error::{one_line, Error, Result};
use yaml_rust2::yaml::Hash;
use yaml_rust2::Yaml;

/// How a user signed in before the conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldAuth {
    /// `auth-provider: {name: azure}`.
    AzureAuthProvider,
    /// `exec: {command: kubelogin, args: [get-token, ...]}`.
    Kubelogin,
}

impl OldAuth {
    /// For people: `legacy azure auth-provider`, `kubelogin exec`.
    pub fn describe(self) -> &'static str {
        match self {
            OldAuth::AzureAuthProvider => "legacy azure auth-provider",
            OldAuth::Kubelogin => "kubelogin exec plugin",
        }
    }
}

/// One user rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The user's name.
    pub user: String,
    /// What it used before.
    pub from: OldAuth,
    /// The new exec `args`.
    pub args: Vec<String>,
    /// Things the person should know (settings with no kubectl-entra flag, ...).
    pub notes: Vec<String>,
    /// The converted user entry (`name` + `user`) as YAML, for `--dry-run`.
    pub yaml: String,
}

/// What [`convert`] found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Users rewritten.
    pub changes: Vec<Change>,
    /// Users that already run `kubectl-entra`.
    pub already: Vec<String>,
    /// Users that look like AKS users but were left alone, with the reason.
    pub skipped: Vec<(String, String)>,
    /// The new file content; `None` when nothing changed.
    pub text: Option<String>,
}

/// What to convert and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Only the user of this context.
    pub context: Option<String>,
    /// An entra-cred profile to name in the new args (`-p P`). With a profile,
    /// the tenant, client id and flow come from the profile, not from the old
    /// configuration.
    pub profile: Option<String>,
}

/// Whether an exec `command` is kubelogin (`kubelogin`, a path to it, `.exe`).
fn is_command(cmd: &str, name: &str) -> bool {
    let base = cmd.rsplit(['/', '\\']).next().unwrap_or(cmd);
    let base = base.strip_suffix(".exe").unwrap_or(base);
    base == name
}

/// The `exec` mapping for `args`; `base` (an old kubelogin exec) keeps its
/// key order and its other keys (`env`, ...).
fn exec_mapping(base: Option<&Hash>, args: &[String]) -> Hash {
    let mut want: Vec<(&str, Yaml)> = vec![
        ("apiVersion", s(EXEC_API_VERSION)),
        ("args", Yaml::Array(args.iter().map(|a| s(a)).collect())),
        ("command", s(COMMAND)),
        ("env", Yaml::Null),
        ("installHint", s(INSTALL_HINT)),
        ("interactiveMode", s("IfAvailable")),
        ("provideClusterInfo", Yaml::Boolean(false)),
    ];
    let mut out = Hash::new();
    if let Some(b) = base {
        for (k, v) in b {
            let pos = k
                .as_str()
                .and_then(|name| want.iter().position(|(w, _)| *w == name));
            match pos {
                Some(i) => {
                    let (name, new) = want.remove(i);
                    // `env` belongs to the user: keep it.
                    let value = if name == "env" { v.clone() } else { new };
                    out.insert(k.clone(), value);
                }
                None => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    for (k, v) in want {
        out.insert(s(k), v);
    }
    out
}

/// Converts the kubeconfig `text`. Pure. Errors (exit 2): not YAML, not a
/// kubeconfig, `users` or `contexts` of the wrong shape, or an unknown context.
pub fn convert(text: &str, opts: &Options) -> Result<Outcome> {
    let mut doc = parse(text)?;
    let Yaml::Hash(top) = &mut doc else {
        return Err(Error::Config("not a kubeconfig".into()));
    };

    let only_user: Option<String> = match &opts.context {
        None => None,
        Some(ctx) => {
            let contexts = match get(top, "contexts") {
                None | Some(Yaml::Null) => Vec::new(),
                Some(Yaml::Array(a)) => a.clone(),
                Some(_) => return Err(Error::Config("`contexts` is not a list".into())),
            };
            let found = contexts.iter().find_map(|c| {
                let h = c.as_hash()?;
                (get_str(h, "name")? == ctx).then_some(h)
            });
            let Some(h) = found else {
                return Err(Error::Config(format!(
                    "no context named '{}' (see `kubectl config get-contexts`)",
                    one_line(ctx)
                )));
            };
            let user = get(h, "context")
                .and_then(Yaml::as_hash)
                .and_then(|c| get_str(c, "user"))
                .ok_or_else(|| {
                    Error::Config(format!("context '{}' names no user", one_line(ctx)))
                })?;
            Some(user.to_string())
        }
    };

    let mut outcome = Outcome::default();
    let users = match top.get_mut(&s("users")) {
        None | Some(Yaml::Null) => None,
        Some(Yaml::Array(a)) => Some(a),
        Some(_) => return Err(Error::Config("`users` is not a list".into())),
    };
    let mut seen_only = false;
    let mut spliced: Vec<(usize, String)> = Vec::new();
    for (index, entry) in users.into_iter().flatten().enumerate() {
        let Some(eh) = entry.as_hash() else { continue };
        let Some(name) = get_str(eh, "name").map(str::to_string) else {
            continue;
        };
        if let Some(u) = &only_user {
            if *u != name {
                continue;
            }
            seen_only = true;
        }
        let Some(user) = get(eh, "user").and_then(Yaml::as_hash) else {
            continue;
        };

        let (from, old) = if let Some(ap) = get(user, "auth-provider").and_then(Yaml::as_hash) {
            if get_str(ap, "name") != Some("azure") {
                continue;
            }
            (
                OldAuth::AzureAuthProvider,
                from_auth_provider(get(ap, "config").and_then(Yaml::as_hash)),
            )
        } else if let Some(ex) = get(user, "exec").and_then(Yaml::as_hash) {
            let cmd = get_str(ex, "command").unwrap_or("");
            if is_command(cmd, COMMAND) {
                outcome.already.push(name);
                continue;
            }
            if !is_command(cmd, "kubelogin") {
                continue;
            }
            let args: Vec<String> = match get(ex, "args") {
                Some(Yaml::Array(a)) => a
                    .iter()
                    .map(|v| match v {
                        Yaml::String(s) | Yaml::Real(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        _ => String::new(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            if args.first().map(String::as_str) != Some("get-token") {
                outcome
                    .skipped
                    .push((name, "kubelogin without `get-token`; left unchanged".into()));
                continue;
            }
            match from_kubelogin(&args) {
                Ok(old) => (OldAuth::Kubelogin, old),
                Err(why) => {
                    outcome.skipped.push((name, why));
                    continue;
                }
            }
        } else {
            continue;
        };

        let args = new_args(&old, opts.profile.as_deref());
        // Rebuild the user mapping in order: the old auth key becomes `exec`.
        let mut new_user = Hash::new();
        for (k, v) in user {
            match k.as_str() {
                Some("auth-provider") if from == OldAuth::AzureAuthProvider => {
                    new_user.insert(s("exec"), Yaml::Hash(exec_mapping(None, &args)));
                }
                Some("exec") if from == OldAuth::Kubelogin => {
                    new_user.insert(s("exec"), Yaml::Hash(exec_mapping(v.as_hash(), &args)));
                }
                _ => {
                    new_user.insert(k.clone(), v.clone());
                }
            }
        }
        let mut new_entry = Hash::new();
        for (k, v) in eh {
            if k.as_str() == Some("user") {
                new_entry.insert(k.clone(), Yaml::Hash(new_user.clone()));
            } else {
                new_entry.insert(k.clone(), v.clone());
            }
        }
        let new_entry = Yaml::Hash(new_entry);
        let yaml = emit(&Yaml::Array(vec![new_entry.clone()]))?;
        spliced.push((index, yaml.clone()));
        *entry = new_entry;
        outcome.changes.push(Change {
            user: name,
            from,
            args,
            notes: old.notes,
            yaml,
        });
    }
    if let (Some(u), false) = (&only_user, seen_only) {
        return Err(Error::Config(format!(
            "context '{}' names user '{}', which is not in the users list",
            one_line(opts.context.as_deref().unwrap_or("")),
            one_line(u)
        )));
    }
    if !outcome.changes.is_empty() {
        outcome.text = Some(match splice_users(text, &doc, &spliced) {
            Some(t) => t,
            None => format!("{}{}", leading_comments(text), emit(&doc)?),
        });
    }
    Ok(outcome)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::kubeconfig::{AKS_PUBLIC_CLIENT_ID, AKS_SERVER_ID};

    const LEGACY: &str = include_str!("../../tests/fixtures/kubeconfig-aks-legacy-azure.yaml");
    const KUBELOGIN: &str = include_str!("../../tests/fixtures/kubeconfig-aks-kubelogin.yaml");
    const TENANT: &str = "3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f";
    const AKS_CLIENT: &str = "80faf920-1908-4b52-b5ef-a8e7bedfc67a";

    fn users(doc: &Yaml) -> Vec<Yaml> {
        doc["users"].as_vec().cloned().unwrap_or_default()
    }

    fn user<'a>(doc: &'a Yaml, name: &str) -> &'a Yaml {
        doc["users"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|u| u["name"].as_str() == Some(name))
            .map(|u| &u["user"])
            .unwrap()
    }

    /// Options that convert only the user of `context`.
    fn in_context(context: &str) -> Options {
        Options {
            context: Some(context.into()),
            profile: None,
        }
    }

    fn args_of(u: &Yaml) -> Vec<String> {
        u["exec"]["args"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn legacy_azure_becomes_exec() {
        let out = convert(LEGACY, &Options::default()).unwrap();
        assert_eq!(out.changes.len(), 1);
        let c = &out.changes[0];
        assert_eq!(c.user, "clusterUser_rg-demo_aks-demo");
        assert_eq!(c.from, OldAuth::AzureAuthProvider);
        // The AKS public client of the fixture is not carried over (the default client serves).
        assert!(LEGACY.contains(AKS_CLIENT));
        assert_eq!(AKS_CLIENT, AKS_PUBLIC_CLIENT_ID);
        assert_eq!(c.args, ["--server-id", AKS_SERVER_ID, "--tenant", TENANT]);
        let text = out.text.unwrap();
        assert!(text.starts_with("# Shape of a kubeconfig"), "{text}");
        let doc = parse(&text).unwrap();
        let u = user(&doc, "clusterUser_rg-demo_aks-demo");
        assert!(u["auth-provider"].is_badvalue());
        assert_eq!(u["exec"]["command"].as_str(), Some(COMMAND));
        assert_eq!(u["exec"]["apiVersion"].as_str(), Some(EXEC_API_VERSION));
        assert_eq!(u["exec"]["interactiveMode"].as_str(), Some("IfAvailable"));
        assert_eq!(u["exec"]["provideClusterInfo"].as_bool(), Some(false));
        assert_eq!(args_of(u), c.args);
        // Everything else is the same value, in the same order.
        let before = parse(LEGACY).unwrap();
        assert_eq!(users(&doc)[1], users(&before)[1]);
        for k in [
            "clusters",
            "contexts",
            "preferences",
            "current-context",
            "kind",
            "apiVersion",
        ] {
            assert_eq!(doc[k], before[k], "{k}");
        }
        let keys = |d: &Yaml| -> Vec<String> {
            d.as_hash()
                .unwrap()
                .keys()
                .map(|k| k.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(keys(&doc), keys(&before));
    }

    #[test]
    fn kubelogin_exec_is_rewritten_in_place() {
        let out = convert(KUBELOGIN, &Options::default()).unwrap();
        assert_eq!(out.changes.len(), 1);
        let c = &out.changes[0];
        assert_eq!(c.from, OldAuth::Kubelogin);
        assert_eq!(c.args, ["--server-id", AKS_SERVER_ID, "--tenant", TENANT]);
        let doc = parse(out.text.as_deref().unwrap()).unwrap();
        let u = user(&doc, "clusterUser_rg-prod_aks-prod");
        let keys: Vec<&str> = u["exec"]
            .as_hash()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap())
            .collect();
        // kubelogin's key order is kept.
        assert_eq!(
            keys,
            [
                "apiVersion",
                "args",
                "command",
                "env",
                "installHint",
                "interactiveMode",
                "provideClusterInfo"
            ]
        );
        assert_eq!(u["exec"]["apiVersion"].as_str(), Some(EXEC_API_VERSION));
        assert!(u["exec"]["env"].is_null());
        assert!(!u["exec"]["installHint"]
            .as_str()
            .unwrap()
            .contains("kubelogin"));
    }

    #[test]
    fn only_the_converted_user_changes() {
        for f in [LEGACY, KUBELOGIN] {
            let new = convert(f, &Options::default()).unwrap().text.unwrap();
            let users = f.find("\nusers:\n").unwrap();
            assert_eq!(
                &new[..users],
                &f[..users],
                "before users: kept byte for byte"
            );
            // The untouched user keeps its lines exactly.
            if let Some(other) = f[users..].find("- name: other-admin") {
                assert!(new.contains(&f[users + other..]), "{new}");
            }
        }
        // kubectl's layout, a comment inside and a user with another indentation stay.
        let text = "apiVersion: v1\nusers:\n  # ours\n  - name: a\n    user:\n      auth-provider:\n        name: azure\n        config:\n          tenant-id: t\n          apiserver-id: s\n  - name: b   # keep me\n    user: {token: x}\nkind: Config\n";
        let new = convert(text, &Options::default()).unwrap().text.unwrap();
        assert!(
            new.starts_with(
                "apiVersion: v1\nusers:\n  # ours\n  - name: a\n    user:\n      exec:\n"
            ),
            "{new}"
        );
        assert!(
            new.ends_with("  - name: b   # keep me\n    user: {token: x}\nkind: Config\n"),
            "{new}"
        );
        // A flow-style users list cannot be spliced: the whole document is written.
        let flow = "users: [{name: a, user: {auth-provider: {name: azure, config: {tenant-id: t, apiserver-id: s}}}}]\n";
        let new = convert(flow, &Options::default()).unwrap().text.unwrap();
        assert!(new.starts_with("users:\n"), "{new}");
    }

    #[test]
    fn second_run_changes_nothing() {
        for f in [LEGACY, KUBELOGIN] {
            let once = convert(f, &Options::default()).unwrap().text.unwrap();
            let twice = convert(&once, &Options::default()).unwrap();
            assert!(twice.changes.is_empty());
            assert_eq!(twice.already.len(), 1);
            assert!(twice.text.is_none());
        }
    }

    #[test]
    fn context_limits_to_its_user() {
        let two = format!(
            "{LEGACY}- name: second\n  user:\n    auth-provider:\n      name: azure\n      config:\n        tenant-id: t2\n"
        );
        let all = convert(&two, &Options::default()).unwrap();
        assert_eq!(all.changes.len(), 2);
        let one = convert(&two, &in_context("aks-demo")).unwrap();
        assert_eq!(one.changes.len(), 1);
        assert_eq!(one.changes[0].user, "clusterUser_rg-demo_aks-demo");
        let doc = parse(one.text.as_deref().unwrap()).unwrap();
        assert!(!user(&doc, "second")["auth-provider"].is_badvalue());
        // The other context's user is not an AKS user: nothing to do.
        let other = convert(LEGACY, &in_context("other")).unwrap();
        assert!(other.changes.is_empty() && other.text.is_none());
        let e = convert(LEGACY, &in_context("nope")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("nope"));
    }

    #[test]
    fn profile_is_named_and_replaces_tenant_and_client() {
        let out = convert(
            LEGACY,
            &Options {
                context: None,
                profile: Some("work".into()),
            },
        )
        .unwrap();
        assert_eq!(
            out.changes[0].args,
            ["-p", "work", "--server-id", AKS_SERVER_ID]
        );
    }

    #[test]
    fn ropc_user_is_skipped_not_changed() {
        let t = KUBELOGIN.replace("      - devicecode", "      - ropc");
        let out = convert(&t, &Options::default()).unwrap();
        assert!(out.changes.is_empty() && out.text.is_none());
        assert_eq!(out.skipped.len(), 1);
    }

    #[test]
    fn unparsable_or_wrong_shape_is_exit_2() {
        for bad in [
            "users: [\n",
            "- a\n- b\n",
            "a: 1\n---\nb: 2\n",
            "users: 5\n",
            "key: !!int notanumber\n",
            "\tusers: x",
        ] {
            let e = convert(bad, &Options::default()).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
            assert!(!e.to_string().contains('\n'));
        }
        // An empty file is an empty config: nothing to do.
        assert!(convert("", &Options::default()).unwrap().text.is_none());
        assert!(convert("# only a comment\n", &Options::default())
            .unwrap()
            .text
            .is_none());
    }

    #[test]
    fn a_carriage_return_inside_a_leading_comment_is_not_kept_as_comment() {
        // Found by fuzzing: YAML reads `# c\rextra: 1` as a comment and a key.
        // Copying the line as a comment and emitting the key as well wrote
        // the key twice, and the converted file no longer parsed.
        let t = format!("# c\rextra: 1\n{LEGACY}");
        let out = convert(&t, &Options::default()).unwrap();
        let text = out.text.expect("converted");
        let again = convert(&text, &Options::default()).expect("the output parses");
        assert!(again.changes.is_empty() && again.text.is_none());
        assert_eq!(parse(&text).unwrap()["extra"].as_i64(), Some(1));
    }

    #[test]
    fn command_names() {
        assert!(is_command("kubelogin", "kubelogin"));
        assert!(is_command("/usr/local/bin/kubelogin", "kubelogin"));
        assert!(is_command("C:\\bin\\kubelogin.exe", "kubelogin"));
        assert!(!is_command("kubelogin2", "kubelogin"));
    }
}
