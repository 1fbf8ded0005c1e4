"""Istio Envoy access logs: ALS gRPC server, workload mapping, L7 aggregation."""
