"""Use cases: one folder per tabular problem, scaffolded from a CSV table by `make usecase`."""
