"""Services to compare ours with, on the same ONNX model: the naive tutorial version, BentoML, Ray Serve."""
