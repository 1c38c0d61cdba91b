"""HTTP layer: app factory (app.py), routes (routes/), request parsing (upload.py, params.py),
response shapes (schemas.py), errors (errors.py) and metrics (metrics.py)."""
