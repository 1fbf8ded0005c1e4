"""Commands from the cloud's agents: Kubernetes, Cilium and shell executors under policy."""
