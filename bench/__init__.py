"""Benchmarks: each prints, as its last line, one JSON object with bench, ratio and goal."""
