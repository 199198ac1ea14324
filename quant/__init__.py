"""Fixed-point quantization (Brevitas), QCDQ export, and the integer contract (IR, reference)."""
