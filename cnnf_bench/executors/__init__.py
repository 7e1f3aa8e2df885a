"""Executors of a suite's job graph: ``local`` (in this process), ``pool`` (worker processes), ``slurm``.

Only :mod:`cnnf_bench.executors.settings` is imported with the package; each executor imports torch
(and the pool and Slurm machinery) when it runs.
"""
