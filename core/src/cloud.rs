//! National clouds: authority host, ARM audience and ACR suffix.

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

impl Cloud {
    /// Parses the profile value.
    pub fn parse(s: &str) -> Option<Cloud> {
        match s.to_ascii_lowercase().as_str() {
            "public" | "azurepubliccloud" | "azurecloud" => Some(Cloud::Public),
            "usgov" | "azureusgovernment" | "azureusgovernmentcloud" => Some(Cloud::UsGov),
            "china" | "azurechinacloud" => Some(Cloud::China),
            _ => None,
        }
    }

    /// The profile value.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Public => "public",
            Cloud::UsGov => "usgov",
            Cloud::China => "china",
        }
    }

    /// The Entra authority host.
    pub fn authority(self) -> &'static str {
        match self {
            Cloud::Public => "https://login.microsoftonline.com",
            Cloud::UsGov => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    /// The Azure Resource Manager scope.
    pub fn arm_scope(self) -> &'static str {
        match self {
            Cloud::Public => "https://management.azure.com/.default",
            Cloud::UsGov => "https://management.usgovcloudapi.net/.default",
            Cloud::China => "https://management.chinacloudapi.cn/.default",
        }
    }

    /// The suffix of container registries in this cloud (with the dot).
    pub fn acr_suffix(self) -> &'static str {
        match self {
            Cloud::Public => ".azurecr.io",
            Cloud::UsGov => ".azurecr.us",
            Cloud::China => ".azurecr.cn",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_hosts() {
        assert_eq!(Cloud::parse("USGov"), Some(Cloud::UsGov));
        assert_eq!(Cloud::parse("AzureChinaCloud"), Some(Cloud::China));
        assert_eq!(Cloud::parse("mars"), None);
        assert_eq!(Cloud::China.authority(), "https://login.chinacloudapi.cn");
        assert_eq!(Cloud::UsGov.acr_suffix(), ".azurecr.us");
    }
}
