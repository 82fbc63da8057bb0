"""The load test: ``make load`` (``python -m bench.load``); see bench/load/README.md."""
