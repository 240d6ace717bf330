"""Property-based and fuzz tests of every parser and of the API.

Every settings object here uses derandomize=True: the suite explores the same inputs on
every run (a fuzz finding is then a reproducible failure, not a flaky one); change the
examples or run with `--hypothesis-seed` to explore further.
"""
