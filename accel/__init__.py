"""The Amaranth accelerator generator, its hardware config and the ONNX-to-program compiler."""
