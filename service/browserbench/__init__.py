"""The browser side measured: Debian chromium (headless, driven by playwright) runs the page served
by a real uvicorn, and its numbers are merged with the server matrix into one report."""
