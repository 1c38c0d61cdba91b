"""`mobile-vision-api bench`: latency of every model x engine x precision x SIMD x threads cell, in-process
(engine only; full pipeline with decode) and over HTTP, with the ratios users ask about."""

from service.bench.command import bench

__all__ = ["bench"]
