"""Fake help desks that speak the vendors' real API shapes: for the demo, the tests and the benchmarks.

`zendesk` and `freshdesk` hold one fake each; `base` is what they share (the server, the request pipeline,
webhook delivery, bulk jobs), `limits` their token buckets and `faults` the failures they inject. They live
apart from `connectors/` so the vendor layer never imports Flask; nothing in production imports them except
`escalator demo`.
"""
