"""Live-chat benchmark: real daphne processes, PostgreSQL and Redis, an open-loop load generator.

Run `python -m bench.chat --help`. Prints figures and writes JSON under bench/results/.
It never asserts timings; targets are printed next to the measured values.
"""
