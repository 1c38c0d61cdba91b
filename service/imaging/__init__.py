"""bytes -> decoded RGB image (decode.py) -> model-sized pixels (preprocess.py)
-> model tensor (tensor.py)."""
