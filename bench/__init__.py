"""Benchmarks of the portal, run with ``python -m bench`` (``make bench``); see README.md.

They are not tests: nothing here asserts a duration. Each prints its figures next to a baseline
measured in the same run, on a scratch database created for the run and dropped after it.
"""
