"""Benchmarks of django_activejob; ``python3 bench/run.py`` runs them (see bench/README.md)."""
