"""Kubernetes ingestion: list+watch, converters, incident monitors, pod-log capture."""
