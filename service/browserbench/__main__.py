import typer

from service.browserbench.command import bench_browser

typer.run(bench_browser)
