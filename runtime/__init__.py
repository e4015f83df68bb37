"""nncompile's runtime: training, checkpoints, distributed launch and ONNX inference."""
