"""Benchmarks: a seeded day of traffic over the region, replayed through the engine and
compared, decision for decision, with the naive way simple systems deconflict."""
