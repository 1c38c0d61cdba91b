"""`python -m service.modelbuild build|mirror`: `mobile-vision-api models` without the rest of the CLI,
for the Dockerfile's `models` stage, which has only the modules the model build imports."""

from service.modelbuild.command import models_app

models_app()
