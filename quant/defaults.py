"""Default settings of the quantization flow, importable without torch (the CLI shows them)."""

__all__ = ["DEFAULT_CALIBRATION"]

# The default weights: seeded initialisation, BatchNorm statistics re-estimated and activations
# calibrated on these images (docs/numerics.md, "Calibration").
DEFAULT_CALIBRATION = {"data": "fashion-mnist", "images": 64, "seed": 0, "batch": 16}
