"""The CLI's commands, one module per stage: each ``register(sub)`` adds its sub-parsers.

Modules here import only ``argparse`` and :mod:`hfaccel.errors` at import time (``hfaccel
--help`` builds every parser); a command imports the stage it runs when it runs.
"""

COMMANDS = ("models", "quant", "hw", "report", "synth", "ncs")  # the order of `hfaccel --help`
