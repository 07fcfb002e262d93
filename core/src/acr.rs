//! Azure Container Registry: the Entra-token-for-ACR-refresh-token exchange
//! and its cache. (Built with the docker issue.)
