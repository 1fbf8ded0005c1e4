"""Cilium Hubble flows: relay client, flow aggregation, flow collector actors."""
