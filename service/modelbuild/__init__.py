"""Model supply chain: fetch the original tflite files, convert them to ONNX, verify against LiteRT.

Needs the `build` extra (onnx, tflite2onnx); the server itself never imports this package."""
