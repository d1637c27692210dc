"""The decision-core tests' synthetic jobs: they live in `benchmarks.synth`, which the benchmarks use
too (a benchmark must not import the tests package); re-exported for the tests that import them here."""

from benchmarks.synth import TYPES, Job, grid, random_job

__all__ = ["TYPES", "Job", "grid", "random_job"]
