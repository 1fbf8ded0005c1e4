"""Simulated peers (Kubernetes API, Hubble Relay, Envoy sidecars, OTel exporter, Kestrel Cloud).

Used by system tests, benchmarks and the demo. Simulators import no operator code.
"""
