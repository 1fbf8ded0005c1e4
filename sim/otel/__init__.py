"""Simulated OpenTelemetry Collector traffic: the real OTel SDK exporter pushing OTLP/gRPC."""
