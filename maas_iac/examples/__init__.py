"""Example models used by the documentation, the tests and the benchmarks."""
