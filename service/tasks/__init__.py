"""Model output -> task result: classification (top-k labels) and detection (faces)."""
