"""Fake help desks that speak the vendors' real API shapes: for the demo, the tests and the benchmarks.

They live apart from `connectors/` so the vendor layer never imports Flask; nothing in production imports
them except `escalator demo`.
"""
