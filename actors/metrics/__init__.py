"""OTel metrics: OTLP/gRPC receiver, numpy ring store, query engine."""
