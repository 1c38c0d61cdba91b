"""mobile-vision-api: server-side MobileNetV2 classification and BlazeFace detection."""

__version__ = "0.1.0"
