"""Benchmarks of Access Portal at the scale of a large company (`python -m bench --help`).

Each benchmark prints a table and writes its figures to `bench/results/<name>.json`.
See bench/README.md for how to run them and what the figures were.
"""
