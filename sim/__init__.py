"""Simulation of the generated RTL: simulator builds, cocotb benches, trace parsing, hw-sim."""
