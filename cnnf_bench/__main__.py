"""``python -m cnnf_bench`` runs the command line."""

from cnnf_bench.cli import main

main()
