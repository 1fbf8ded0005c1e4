"""The end-to-end demo and its system test: every simulated peer plus the real operator.

``python -m sim.demo`` (what ``make demo`` runs) starts the simulated Kubernetes API server
with churn, a Hubble Relay, Envoy sidecars, the OpenTelemetry SDK exporter and Kestrel Cloud
in this process, then runs the real operator (``kestrel-operator run``: the production
multiproc process tree) as a subprocess against them — a black box seen only through its
status endpoint and what reaches the cloud, exactly as in a cluster. Simulators import no
operator code.
"""
