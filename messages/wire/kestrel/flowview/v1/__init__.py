"""Generated protobuf/gRPC code (scripts/generate_wire.py). Never edit by hand."""
