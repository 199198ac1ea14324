"""Default settings of the quantization flow, importable without torch (the CLI shows them)."""

__all__ = ["BIAS_CORRECTIONS", "CALIBRATION_METHODS", "DEFAULT_CALIBRATION", "PERCENTILE"]

# How each activation's power-of-two exponent is chosen (quant/calibrate.py, docs/numerics.md):
# Brevitas' default, the least squared error, a percentile of |x|, or per tensor the one of these
# three whose network output is closest to the float network's.
CALIBRATION_METHODS = ("brevitas", "mse", "percentile", "auto")
PERCENTILE = 99.999
# What the conv/FC biases absorb after the exponents are chosen: nothing; the mean output shift
# of each layer's own weight quantization (Nagel et al. 2019); or, layer by layer in network
# order, the mean shift of the quantized network against the float network (accumulated).
BIAS_CORRECTIONS = ("none", "local", "float")

# The default weights: seeded initialisation, BatchNorm statistics re-estimated and activations
# calibrated on these images (docs/numerics.md, "Calibration").
DEFAULT_CALIBRATION = {"data": "fashion-mnist", "images": 64, "seed": 0, "batch": 16,
                       "method": "brevitas", "bias_correction": "none"}
