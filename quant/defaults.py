"""Default settings of the quantization flow, importable without torch (the CLI shows them)."""

__all__ = ["CALIBRATION_METHODS", "DEFAULT_CALIBRATION", "PERCENTILE"]

# How each activation's power-of-two exponent is chosen (quant/calibrate.py, docs/numerics.md):
# Brevitas' default, the least squared error, or a percentile of |x|.
CALIBRATION_METHODS = ("brevitas", "mse", "percentile")
PERCENTILE = 99.999

# The default weights: seeded initialisation, BatchNorm statistics re-estimated and activations
# calibrated on these images (docs/numerics.md, "Calibration").
DEFAULT_CALIBRATION = {"data": "fashion-mnist", "images": 64, "seed": 0, "batch": 16,
                       "method": "brevitas", "bias_correction": False}
