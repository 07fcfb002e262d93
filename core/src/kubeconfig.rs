//! Kubeconfig conversion (`convert-kubeconfig`). (Built with the kubectl issue.)
