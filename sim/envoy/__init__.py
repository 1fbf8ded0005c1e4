"""Simulated Istio sidecars: many concurrent Envoy ALS client streams (``python -m sim.envoy``).

Replays the golden ``fixtures/envoy-als`` streams (re-identified per sidecar) and synthetic
load against an ``envoy.service.accesslog.v3.AccessLogService`` server.
"""
