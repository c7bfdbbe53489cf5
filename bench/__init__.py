"""The leakmon benchmark: corpus generator (`bench.corpus`) and harness (`bench.run`)."""
