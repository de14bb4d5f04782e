"""Benchmark suite (issue 6): ``python -m bench.run [--quick]``; see bench/README.md."""
