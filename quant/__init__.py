"""Fixed-point quantization (Brevitas), ONNX export, and the numeric contract's quantizers."""
