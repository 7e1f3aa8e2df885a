"""Attacks on [0, 1] images with L-inf budgets in [0, 1] units."""
