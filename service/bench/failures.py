"""What ends a lab command when a measurement fails (not a bug): one line on stderr and exit code 1,
nothing written, as its --help says (it was a traceback of 90 lines and more)."""

from __future__ import annotations

from service.bench.http import ServerFailed
from service.bench.load import LoadFailed
from service.one_line_exit import exits_in_one_line

# the server answered other than 200 or not at all (ServerFailed); no request of a load succeeded, or
# a caller of the engine failed (LoadFailed). The command's own `with` blocks have stopped the servers it
# started by the time the decorator catches
MEASUREMENT_FAILED = (LoadFailed, ServerFailed)
exits_when_a_measurement_fails = exits_in_one_line(MEASUREMENT_FAILED, "a measurement failed")
