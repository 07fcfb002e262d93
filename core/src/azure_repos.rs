//! Azure Repos: which hosts are served, organisations, and tenant discovery.
//! (Built with the git issue.)
