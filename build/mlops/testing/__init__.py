"""What the tests and benchmarks share: throw-away servers, fixtures, sample Examples."""
