"""The actor runtime: supervision, credit links, I/O bridge, topology, status, lifecycle, CLI."""
