"""One module per group of routes. Every GET route is also registered for HEAD (kept out of the OpenAPI
document): RFC 9110 wants a general-purpose server to answer both, and uptime checkers, `curl -I` and
link checkers send HEAD; FastAPI, unlike Starlette, does not add it. uvicorn sends no body for HEAD,
and FileResponse does not read the file."""
