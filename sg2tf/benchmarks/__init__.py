"""Benchmarks run by `sg2tf-bench NAME`; each module defines its flags and `main(argv) -> dict`."""
