"""The benchmarks of `make bench`, each writing bench/results/<name>.json."""
