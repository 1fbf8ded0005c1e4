"""Simulated Hubble Relay: serves ``observer.Observer`` (GetFlows, GetNodes, ServerStatus).

Replays the golden ``fixtures/hubble/getflows.bin`` frames and synthetic flows at a configurable
rate, honouring ``node_name`` filters and ``follow``. Run with ``python -m sim.hubble``.
"""
