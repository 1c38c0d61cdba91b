"""Engines run a model on model pixels. One small interface (base.Runner), two implementations:
onnxruntime (onnx.py) and LiteRT (litert.py); registry.py creates and caches them."""
