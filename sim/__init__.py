"""Simulation: the integer reference of the numeric contract and whole-network RTL runs."""
