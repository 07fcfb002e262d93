//! National clouds: the one table of what differs between them (profile names and their
//! aliases, authority host, ARM scope, ACR registry suffix). Every cloud-name parser and every
//! list of ACR suffixes is derived from [`Cloud::ALL`] and [`Cloud::data`].

/// One of the Azure clouds (`cloud = public | usgov | china`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    /// Azure public cloud.
    #[default]
    Public,
    /// Azure US Government.
    UsGov,
    /// Azure operated by 21Vianet (China).
    China,
}

/// What one cloud's row of the table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudData {
    /// The profile value (`public`, `usgov`, `china`).
    pub name: &'static str,
    /// Other names accepted for it (the Azure CLI's and kubelogin's environment names), lower
    /// case.
    pub aliases: &'static [&'static str],
    /// The Entra authority host (`https://...`, no trailing slash).
    pub authority: &'static str,
    /// The Azure Resource Manager scope.
    pub arm_scope: &'static str,
    /// The suffix of container registries in this cloud, with its leading dot.
    pub acr_suffix: &'static str,
}

impl Cloud {
    /// Every cloud, in the order messages list them.
    pub const ALL: [Cloud; 3] = [Cloud::Public, Cloud::UsGov, Cloud::China];

    /// The cloud's row of the table.
    pub const fn data(self) -> CloudData {
        const fn row(
            name: &'static str,
            aliases: &'static [&'static str],
            authority: &'static str,
            arm_scope: &'static str,
            acr_suffix: &'static str,
        ) -> CloudData {
            CloudData {
                name,
                aliases,
                authority,
                arm_scope,
                acr_suffix,
            }
        }
        // name, aliases,
        //     authority, ARM scope, ACR suffix
        #[rustfmt::skip]
        let row = match self {
            Cloud::Public => row("public", &["azurepubliccloud", "azurecloud"],
                "https://login.microsoftonline.com", "https://management.azure.com/.default", ".azurecr.io"),
            Cloud::UsGov => row("usgov", &["azureusgovernment", "azureusgovernmentcloud"],
                "https://login.microsoftonline.us", "https://management.usgovcloudapi.net/.default", ".azurecr.us"),
            Cloud::China => row("china", &["azurechinacloud"],
                "https://login.chinacloudapi.cn", "https://management.chinacloudapi.cn/.default", ".azurecr.cn"),
        };
        row
    }

    /// Parses a cloud name: the profile value or one of its aliases, in any case.
    pub fn parse(s: &str) -> Option<Cloud> {
        Cloud::ALL.into_iter().find(|c| {
            let d = c.data();
            d.name.eq_ignore_ascii_case(s) || d.aliases.iter().any(|a| a.eq_ignore_ascii_case(s))
        })
    }

    /// The profile value.
    pub fn name(self) -> &'static str {
        self.data().name
    }

    /// The Entra authority host.
    pub fn authority(self) -> &'static str {
        self.data().authority
    }

    /// The Azure Resource Manager scope.
    pub fn arm_scope(self) -> &'static str {
        self.data().arm_scope
    }

    /// The suffix of container registries in this cloud (with the dot).
    pub fn acr_suffix(self) -> &'static str {
        self.data().acr_suffix
    }

    /// The cloud whose ACR suffix `host` (lower case, no port) carries, anchored: a non-empty
    /// registry name must stand before it (`myreg.azurecr.io`, not `azurecr.io` or
    /// `evilazurecr.io`).
    pub fn of_acr_host(host: &str) -> Option<Cloud> {
        Cloud::ALL.into_iter().find(|c| {
            host.strip_suffix(c.acr_suffix())
                .is_some_and(|name| !name.is_empty())
        })
    }

    /// The cloud names for messages: `public, usgov or china`.
    pub fn names_shown() -> String {
        let names = Cloud::ALL.map(Cloud::name);
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }

    /// The ACR suffixes for messages: `*.azurecr.io, *.azurecr.us, *.azurecr.cn`.
    pub fn acr_suffixes_shown() -> String {
        Cloud::ALL
            .map(|c| format!("*{}", c.acr_suffix()))
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_for_messages() {
        assert_eq!(Cloud::names_shown(), "public, usgov or china");
    }

    #[test]
    fn parse_and_hosts() {
        assert_eq!(Cloud::parse("USGov"), Some(Cloud::UsGov));
        assert_eq!(Cloud::parse("AzureChinaCloud"), Some(Cloud::China));
        assert_eq!(Cloud::parse("AzureCloud"), Some(Cloud::Public));
        assert_eq!(Cloud::parse("azureusgovernmentcloud"), Some(Cloud::UsGov));
        assert_eq!(Cloud::parse("mars"), None);
        assert_eq!(Cloud::parse(""), None);
        assert_eq!(Cloud::China.authority(), "https://login.chinacloudapi.cn");
        assert_eq!(Cloud::UsGov.acr_suffix(), ".azurecr.us");
        for c in Cloud::ALL {
            assert_eq!(Cloud::parse(c.name()), Some(c));
        }
    }

    #[test]
    fn acr_suffixes_are_anchored() {
        assert_eq!(Cloud::of_acr_host("r.azurecr.io"), Some(Cloud::Public));
        assert_eq!(Cloud::of_acr_host("a.b.azurecr.cn"), Some(Cloud::China));
        assert_eq!(Cloud::of_acr_host("r.azurecr.us"), Some(Cloud::UsGov));
        for host in [
            "azurecr.io",
            ".azurecr.io",
            "r.azurecr.io.evil",
            "r.azurecr.com",
        ] {
            assert_eq!(Cloud::of_acr_host(host), None, "{host}");
        }
        assert_eq!(
            Cloud::acr_suffixes_shown(),
            "*.azurecr.io, *.azurecr.us, *.azurecr.cn"
        );
    }
}
