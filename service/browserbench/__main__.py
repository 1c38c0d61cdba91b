import typer

from service.browserbench.command import bench_browser
from service.localserver import unwind_on_sigterm

unwind_on_sigterm()  # as `mobile-vision-api bench-browser` does: the server it starts is stopped
typer.run(bench_browser)
