//! The parts of each man page that clap does not know: the protocol a helper speaks, how its
//! tool is configured, environment, files, exit status, examples and related pages. Words between
//! backticks are set in bold. The facts here follow docs/SPEC.md and the README.

/// A man page section after the options and commands.
pub struct Section {
    /// The heading, upper case by convention (`PROTOCOL`, `EXIT STATUS`).
    pub title: &'static str,
    /// The content, in order.
    pub blocks: &'static [Block],
}

/// A piece of a section.
#[derive(Clone, Copy)]
pub enum Block {
    /// A paragraph.
    P(&'static str),
    /// A term and its description (a tagged paragraph).
    Item(&'static str, &'static str),
    /// Lines shown as they are (commands, file contents), indented.
    Example(&'static str),
}

use Block::{Example, Item, P};

/// The prose sections of a binary's page (none for a binary this module does not know yet: its
/// page then has what clap knows, and the README's pointer).
pub fn sections(bin: &str) -> &'static [Section] {
    match bin {
        "entra-cred" => ENTRA_CRED,
        "git-credential-entra" => GIT,
        "docker-credential-entra" => DOCKER,
        "kubectl-entra" => KUBECTL,
        "entra-credential-process" => AWS,
        "cargo-credential-entra" => CARGO,
        _ => UNKNOWN,
    }
}

const EXIT_STATUS: Section = Section {
    title: "EXIT STATUS",
    blocks: &[
        Item("0", "Success."),
        Item("1", "General error: Entra refused, a malformed answer, bad input."),
        Item(
            "2",
            "Profile not found or configuration invalid; also command-line usage errors.",
        ),
        Item(
            "3",
            "No usable sign-in and nobody can answer a prompt here: run `entra-cred login` once in a terminal.",
        ),
        Item(
            "4",
            "The refresh token expired or was revoked (invalid_grant): sign in again with `entra-cred login`.",
        ),
        Item(
            "5",
            "Network error: the endpoint is unreachable, timed out, or kept failing after retries.",
        ),
        P("Every failure is one line on standard error, `<binary>: <what failed>: <detail>`, with Entra's AADSTS code when there is one. No token or secret is ever printed there."),
    ],
};

const COMMON_ENVIRONMENT: &[Block] = &[
    Item(
        "`ENTRA_CRED_PROFILE`",
        "The profile used when none is named on the command line (default: `default`).",
    ),
    Item(
        "`ENTRA_CRED_CONFIG`",
        "The configuration file (see `entra-cred`(1), CONFIGURATION).",
    ),
    Item(
        "`ENTRA_CRED_CACHE_DIR`",
        "The token cache directory (default `$XDG_CACHE_HOME/entra-cred`, else `~/.cache/entra-cred`).",
    ),
    Item(
        "`ENTRA_CRED_LOG`",
        "`error` (default), `warn`, `info` or `debug`: diagnostics on standard error, never a secret.",
    ),
];

const UNKNOWN: &[Section] = &[Section {
    title: "SEE ALSO",
    blocks: &[P(
        "`entra-cred`(1), and /usr/share/doc/entra-cred/README.md.",
    )],
}];

const ENTRA_CRED: &[Section] = &[
    Section {
        title: "CONFIGURATION",
        blocks: &[
            P("The configuration file is `$ENTRA_CRED_CONFIG`, else `$XDG_CONFIG_HOME/entra-cred/config.toml`, else `~/.config/entra-cred/config.toml`. A missing file is fine: the `default` profile then comes from the environment. The file is TOML with one table per profile:"),
            Example("[profiles.default]\ntenant = \"contoso.onmicrosoft.com\"\n\n[profiles.ci]\ntenant = \"3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nflow = \"client-secret\"\nacr_hosts = [\"myregistry.azurecr.io\"]"),
            P("Profile keys: `tenant`, `client_id`, `flow`, `authority`, `cloud` (`public`, `usgov`, `china`), `client_secret` (the environment variable is preferred), `certificate` (PEM or PKCS#12), `federated_token_file`, `managed_identity_client_id`, `git_hosts`, `acr_hosts`, `acr_scope`, `server_id`. An unknown key or table is an error (exit 2) naming the line."),
            P("`flow` is one of `device-code`, `browser`, `client-secret`, `client-certificate`, `workload-identity`, `managed-identity`, `azure-cli` or `auto`. `auto` (the default) picks a client secret or certificate from the environment, workload identity, managed identity, a cached user sign-in, then an interactive sign-in when a person can answer, else exit 3."),
            P("Precedence: a command-line flag, then a key written in the chosen profile, then the environment, then the built-in default (tenant `organizations`, the public client id 04b07795-8ddb-461a-bbee-02f9e1bf7b46)."),
        ],
    },
    Section {
        title: "ENVIRONMENT",
        blocks: &[
            Item("`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`", "Tenant and application."),
            Item("`AZURE_CLIENT_SECRET`", "The client-secret flow."),
            Item(
                "`AZURE_CLIENT_CERTIFICATE_PATH`, `AZURE_CLIENT_CERTIFICATE_PASSWORD`",
                "The client-certificate flow (PEM with its key, or PKCS#12).",
            ),
            Item(
                "`AZURE_FEDERATED_TOKEN_FILE`",
                "Workload identity: the file is read afresh for every request.",
            ),
            Item(
                "`AZURE_AUTHORITY_HOST`",
                "The authority base URL (default https://login.microsoftonline.com); plain http only for loopback hosts.",
            ),
            Item(
                "`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`, `MSI_ENDPOINT`, `AZURE_POD_IDENTITY_AUTHORITY_HOST`",
                "Managed identity: App Service, Cloud Shell, and the base URL of the instance metadata service.",
            ),
            Item(
                "`ENTRA_CRED_PROFILE`, `ENTRA_CRED_CONFIG`, `ENTRA_CRED_CACHE_DIR`",
                "The profile, the configuration file and the cache directory.",
            ),
            Item(
                "`ENTRA_CRED_GIT_HOSTS`, `ENTRA_CRED_ACR_HOSTS`",
                "More hosts treated as Azure Repos or Azure Container Registry (`host` or `host:port`, comma-separated).",
            ),
            Item(
                "`ENTRA_CRED_KEYRING`",
                "`auto` (default), `file` or `keyring`: where refresh tokens and other long-lived secrets are kept.",
            ),
            Item(
                "`ENTRA_CRED_HTTP_TIMEOUT`",
                "Seconds one call may spend on the network, retries included (default 30).",
            ),
            Item(
                "`ENTRA_CRED_LOG`",
                "`error` (default), `warn`, `info` or `debug`: diagnostics on standard error, never a secret.",
            ),
        ],
    },
    Section {
        title: "FILES",
        blocks: &[
            Item(
                "`~/.config/entra-cred/config.toml`",
                "The profiles (see CONFIGURATION).",
            ),
            Item(
                "`~/.cache/entra-cred/`",
                "The token cache: directory mode 0700, files 0600, shared by every helper process. Refresh tokens live in the OS keyring when one is usable, else here.",
            ),
        ],
    },
    EXIT_STATUS,
    Section {
        title: "EXAMPLES",
        blocks: &[
            P("Sign in once, wire up git and a registry, then check:"),
            Example("entra-cred login\nentra-cred setup git\nentra-cred setup docker myregistry.azurecr.io\nentra-cred status"),
            P("An access token for Azure Resource Manager, for a script:"),
            Example("entra-cred token --scope https://management.azure.com/.default"),
            P("Shell completion (the package installs it already):"),
            Example("entra-cred completions bash > ~/.local/share/bash-completion/completions/entra-cred"),
        ],
    },
    Section {
        title: "SEE ALSO",
        blocks: &[P("`git-credential-entra`(1), `docker-credential-entra`(1), `kubectl-entra`(1), `entra-credential-process`(1), `cargo-credential-entra`(1), and /usr/share/doc/entra-cred/README.md.")],
    },
];

const GIT: &[Section] = &[
    Section {
        title: "PROTOCOL",
        blocks: &[
            P("git runs `git-credential-entra get`, `store` or `erase` and writes its request on standard input as `key=value` lines ending with a blank line: `protocol`, `host`, `path` (with `credential.useHttpPath`), `capability[]` and `wwwauth[]`. See `gitcredentials`(7)."),
            Item(
                "`get`",
                "For `dev.azure.com`, `*.visualstudio.com` and the hosts in `git_hosts` or `ENTRA_CRED_GIT_HOSTS`, answers an Entra access token for Azure DevOps (scope 499b84ac-1321-427f-aa17-267ca6975798/.default): `username=` (the signed-in account) and `password=<token>`, or, when git says `capability[]=authtype` (git 2.46 and later), `authtype=Bearer` and `credential=<token>`. `password_expiry_utc` is set a few minutes before the token expires. For any other host it prints nothing and exits 0, so git asks its next helper.",
            ),
            Item(
                "`erase`",
                "git says the server rejected the credential: the cached token is dropped, so the next `get` fetches a new one.",
            ),
            Item("`store`", "Accepted; nothing is kept (tokens come from entra-cred's cache)."),
            P("The tenant comes from the profile, else from git's `wwwauth[]` lines, else from an unauthenticated request to the organisation, remembered per organisation. Only https is answered, except on loopback hosts."),
        ],
    },
    Section {
        title: "CONFIGURATION",
        blocks: &[
            P("`entra-cred setup git` writes this into the global git config (`--dry-run` shows it first):"),
            Example("[credential \"https://dev.azure.com\"]\n\thelper =\n\thelper = /usr/bin/git-credential-entra\n\tuseHttpPath = true\n[credential \"https://*.visualstudio.com\"]\n\thelper =\n\thelper = /usr/bin/git-credential-entra"),
            P("The empty `helper =` line resets helpers inherited from other config files (Git Credential Manager, `store`) for these URLs only. With `-p PROFILE`, the helper line carries `-p PROFILE`."),
        ],
    },
    Section {
        title: "ENVIRONMENT",
        blocks: &[
            Item(
                "`GIT_TERMINAL_PROMPT`",
                "`0` forbids prompts: a needed sign-in is then exit 3 with the hint to run `entra-cred login`.",
            ),
            Item(
                "`ENTRA_CRED_GIT_HOSTS`",
                "More Azure DevOps Server hosts to answer (`host` or `host:port`, comma-separated).",
            ),
            COMMON_ENVIRONMENT[0],
            COMMON_ENVIRONMENT[1],
            COMMON_ENVIRONMENT[2],
            COMMON_ENVIRONMENT[3],
        ],
    },
    EXIT_STATUS,
    Section {
        title: "EXAMPLES",
        blocks: &[
            P("What git does on a clone from Azure Repos:"),
            Example("printf 'protocol=https\\nhost=dev.azure.com\\npath=contoso/demo/_git/demo\\n\\n' |\n    git-credential-entra get"),
        ],
    },
    Section {
        title: "SEE ALSO",
        blocks: &[P("`entra-cred`(1), `gitcredentials`(7), `git-credential`(1).")],
    },
];

const DOCKER: &[Section] = &[
    Section {
        title: "PROTOCOL",
        blocks: &[
            P("docker, skopeo, podman, buildah and crane run `docker-credential-entra ACTION` with the registry (or credentials) on standard input and read JSON on standard output."),
            Item(
                "`get`",
                "Standard input is the server. For `*.azurecr.io`, `*.azurecr.cn`, `*.azurecr.us` and the hosts in `acr_hosts` or `ENTRA_CRED_ACR_HOSTS`, an Entra token is exchanged at the registry's /oauth2/exchange for an ACR refresh token, which is answered as {\"ServerURL\": ..., \"Username\": \"00000000-0000-0000-0000-000000000000\", \"Secret\": ...}. It is cached and exchanged anew when less than an hour of it is left. For any other server the answer is `credentials not found in native keychain`, exit 1, without any network use.",
            ),
            Item("`list`", "A JSON object, registry to username, of the registries with cached tokens."),
            Item("`erase`", "Forgets that registry's cached token."),
            Item("`store`", "Accepted; nothing is kept."),
            Item("`version`", "The helper's version."),
            P("Docker passes no arguments to helpers: the profile is the one whose `acr_hosts` lists the registry, else `ENTRA_CRED_PROFILE`, else `default`."),
        ],
    },
    Section {
        title: "CONFIGURATION",
        blocks: &[
            P("`entra-cred setup docker myregistry.azurecr.io` adds to `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`):"),
            Example("\"credHelpers\": { \"myregistry.azurecr.io\": \"entra\" }"),
            P("podman and skopeo read the same file, or the `credHelpers` of their own auth file."),
        ],
    },
    Section {
        title: "ENVIRONMENT",
        blocks: &[
            Item(
                "`ENTRA_CRED_ACR_HOSTS`",
                "More registries to serve (`host` or `host:port`, comma-separated).",
            ),
            COMMON_ENVIRONMENT[0],
            COMMON_ENVIRONMENT[1],
            COMMON_ENVIRONMENT[2],
            COMMON_ENVIRONMENT[3],
        ],
    },
    EXIT_STATUS,
    Section {
        title: "EXAMPLES",
        blocks: &[Example("echo myregistry.azurecr.io | docker-credential-entra get\ndocker-credential-entra list")],
    },
    Section {
        title: "SEE ALSO",
        blocks: &[P("`entra-cred`(1), `docker-login`(1), `containers-auth.json`(5).")],
    },
];

const KUBECTL: &[Section] = &[
    Section {
        title: "PROTOCOL",
        blocks: &[
            P("kubectl runs the command of a kubeconfig user's `exec` section and reads an ExecCredential from its standard output. With no subcommand, `kubectl-entra` prints one with an Entra access token for `<server id>/.default` in `status.token` and its expiry in `status.expirationTimestamp` (RFC 3339, UTC). The `apiVersion` is the one kubectl asks for in `KUBERNETES_EXEC_INFO` (`client.authentication.k8s.io/v1` or `v1beta1`; `v1beta1` when absent)."),
            P("When kubectl says the session is not interactive (`spec.interactive` false) and a person would have to sign in, the answer is exit 3 with the hint to run `entra-cred login`."),
        ],
    },
    Section {
        title: "CONFIGURATION",
        blocks: &[
            P("A kubeconfig user that runs the plugin:"),
            Example("users:\n- name: clusterUser_rg-prod_aks-prod\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: kubectl-entra\n      args: [--server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]\n      interactiveMode: IfAvailable\n      provideClusterInfo: false"),
            P("`entra-cred setup kubectl` (or `kubectl-entra convert-kubeconfig`) rewrites the users that `az aks get-credentials` wrote (the legacy `azure` auth-provider, or `kubelogin get-token`) into this form, keeping every other cluster, context and user."),
        ],
    },
    Section {
        title: "ENVIRONMENT",
        blocks: &[
            Item(
                "`KUBERNETES_EXEC_INFO`",
                "Set by kubectl: the API version it wants and whether the session is interactive.",
            ),
            Item(
                "`KUBECONFIG`",
                "`convert-kubeconfig` rewrites its first file (default `~/.kube/config`).",
            ),
            COMMON_ENVIRONMENT[0],
            COMMON_ENVIRONMENT[1],
            COMMON_ENVIRONMENT[2],
            COMMON_ENVIRONMENT[3],
        ],
    },
    EXIT_STATUS,
    Section {
        title: "EXAMPLES",
        blocks: &[Example("kubectl-entra convert-kubeconfig --dry-run\nkubectl get nodes")],
    },
    Section {
        title: "SEE ALSO",
        blocks: &[P("`entra-cred`(1), `kubectl`(1).")],
    },
];

const AWS: &[Section] = &[
    Section {
        title: "PROTOCOL",
        blocks: &[
            P("The AWS CLI, the SDKs and boto3 run a profile's `credential_process` command and read JSON from its standard output: `Version` 1, `AccessKeyId`, `SecretAccessKey`, `SessionToken` and `Expiration`. They run it again when fewer than 15 minutes are left, and show its standard error only when it fails."),
            Item(
                "federation mode (`--role-arn ARN --scope S`)",
                "Gets an Entra token for `S` (the application AWS IAM trusts as the OIDC audience), exchanges it at STS AssumeRoleWithWebIdentity and prints the AWS credentials, cached (as secrets) until 15 minutes before they expire.",
            ),
            Item(
                "token mode (`--scope S` alone)",
                "Prints the Entra access token as `SessionToken` (with `AccessKeyId` and `SecretAccessKey` set to entra) for programs that read this format but want an Entra token. AWS services reject these values.",
            ),
            P("It never prompts: a needed sign-in is exit 3 with the hint to run `entra-cred login`."),
        ],
    },
    Section {
        title: "CONFIGURATION",
        blocks: &[
            P("`entra-cred setup aws --aws-profile dev --scope api://aws-federation/.default --role-arn arn:aws:iam::123456789012:role/dev` writes into `~/.aws/config` (or `$AWS_CONFIG_FILE`):"),
            Example("[profile dev]\ncredential_process = \"/usr/bin/entra-credential-process\" --scope api://aws-federation/.default --role-arn arn:aws:iam::123456789012:role/dev"),
        ],
    },
    Section {
        title: "ENVIRONMENT",
        blocks: &[
            Item(
                "`AWS_REGION`, `AWS_DEFAULT_REGION`",
                "The STS region when `--region` is not given (default us-east-1).",
            ),
            Item(
                "`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`",
                "The STS endpoint (default https://sts.<region>.amazonaws.com).",
            ),
            COMMON_ENVIRONMENT[0],
            COMMON_ENVIRONMENT[1],
            COMMON_ENVIRONMENT[2],
            COMMON_ENVIRONMENT[3],
        ],
    },
    EXIT_STATUS,
    Section {
        title: "EXAMPLES",
        blocks: &[Example("aws sts get-caller-identity --profile dev")],
    },
    Section {
        title: "SEE ALSO",
        blocks: &[P("`entra-cred`(1), `aws`(1).")],
    },
];

const CARGO: &[Section] = &[
    Section {
        title: "PROTOCOL",
        blocks: &[
            P("cargo (1.74 and later) runs `cargo-credential-entra --cargo-plugin` as a credential provider and speaks version 1 of its protocol: one JSON message a line on standard input and output. Words after the provider's name in cargo's configuration arrive in the request's `args`, so `-p work` selects profile `work`."),
            Item(
                "get",
                "For a registry whose index is on `pkgs.dev.azure.com`, `*.pkgs.visualstudio.com` or a host in `artifacts_hosts` / `ENTRA_CRED_ARTIFACTS_HOSTS`: `Bearer <token>` for the Azure DevOps scope, with `cache` `expires` a few minutes before the token does, for reading and publishing alike. Any other registry is answered `url-not-supported`, so cargo asks its next provider.",
            ),
            Item(
                "login",
                "Signs in when a person can answer; a pasted token is refused (Entra tokens are not pasted).",
            ),
            Item("logout", "Forgets the cached Azure Artifacts token."),
            P("The tenant is the profile's, else the one named by the feed's `WWW-Authenticate` challenge, else `organizations`. Failures are one-line `other` errors; never a token."),
        ],
    },
    Section {
        title: "CONFIGURATION",
        blocks: &[
            P("`entra-cred setup cargo` adds the provider to `registry.global-credential-providers` in `$CARGO_HOME/config.toml` (default `~/.cargo/config.toml`); `--registry NAME --index URL` wires one registry instead; `--remove` undoes either:"),
            Example("[registry]\nglobal-credential-providers = [\"cargo:token\", \"cargo-credential-entra\"]"),
        ],
    },
    Section {
        title: "ENVIRONMENT",
        blocks: &[
            Item(
                "`ENTRA_CRED_ARTIFACTS_HOSTS`",
                "Extra Azure Artifacts hosts (`host` or `host:port`, comma-separated).",
            ),
            COMMON_ENVIRONMENT[0],
            COMMON_ENVIRONMENT[1],
            COMMON_ENVIRONMENT[2],
            COMMON_ENVIRONMENT[3],
        ],
    },
    EXIT_STATUS,
    Section {
        title: "EXAMPLES",
        blocks: &[Example("entra-cred setup cargo\ncargo fetch")],
    },
    Section {
        title: "SEE ALSO",
        blocks: &[P("`entra-cred`(1), `cargo`(1).")],
    },
];
