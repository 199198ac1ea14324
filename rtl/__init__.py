"""The engine in Amaranth: units, arithmetic lanes, memories; Verilog emission, synthesis, lint.

Imports :mod:`hfaccel.accel` (config, ISA) and nothing later; :mod:`hfaccel.sim` runs what is
generated here.
"""
