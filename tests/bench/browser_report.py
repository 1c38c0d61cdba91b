"""A `bench-browser` report's Markdown, shaped as that command writes it: for the tests of what reads
it (the README's Results blocks, bench-readme)."""

BROWSER_MD = """| model | browser wasm ms | server ORT ms |
|---|---|---|
| m | 120.0 → 40.0 → 25.0 | 5.4 / 3.8 |

Published claims, against the measured ratios:

- TF.js 2020: SIMD over plain wasm: 1.7-4.5x; measured m 3.0x

Browser path, a new visitor (empty cache, SIMD + 2 threads; bytes as sent):

| model | link | encoding | MB sent | first result |
|---|---|---|---|---|
| m | loopback | brotli / gzip copies | 4.8 | 1.8 s |

Assumptions: one request uses one core."""
