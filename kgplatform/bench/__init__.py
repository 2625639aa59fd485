"""Benchmarks on real datasets: our model beside library baselines in the same run, results as JSON and markdown."""
