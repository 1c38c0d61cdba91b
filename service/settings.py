"""Settings: how a model runs (EngineSettings, per request) and how the server runs (ServerSettings,
from MVA_* environment variables)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from service.artifacts import MODELS_FOLDER, ArtifactLayout
from service.cpu import has_vnni
from service.engines.int8_file import Int8Weights, signed_int8_unverified
from service.manifest import Manifest, ManifestError, Precision

Engine = Literal["onnxruntime", "litert"]
Kernels = Literal["xnnpack", "builtin", "reference"]
# auto: the fastest settings measured on this host, per model (service.autotune)
Preset = Literal["scalar", "simd", "simd-threads", "auto"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENV_PREFIX = "MVA_"  # ServerSettings' variables
FIRST_REQUEST_GRACE_S = 1.0  # MVA_FIRST_REQUEST_GRACE_S's default (service/api/first_request_grace.py)


def cpu_count() -> int:
    """Cores this process may use (respects taskset / cgroup cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


CPU_COUNT = cpu_count()

ONNXRUNTIME_NO_SIMD = (
    "onnxruntime cannot switch SIMD off: its MLAS kernels pick AVX2/AVX-512 at run time. "
    "Use engine=litert with simd=off for the scalar reference kernels, as preset=scalar does."
)


def _threads_within_cores(value: int) -> int:
    if value > CPU_COUNT:
        raise ValueError(f"threads must be between 1 and {CPU_COUNT} (the cores this process may use)")
    return value


# a request's intra-op threads, and the server's default (MVA_THREADS): one type, so that the default is
# refused as it is parsed, beside the other variables' problems, not only once they all parse
Threads = Annotated[int, Field(ge=1), AfterValidator(_threads_within_cores)]


class SettingsConflict(ValueError):
    """Settings that do not go together; `field` names the one to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class EngineSettings(BaseModel):
    """How one inference runs. `precision=None` means the model's own (first listed in the manifest);
    `kernels=None` means what `simd` implies (litert: xnnpack when on, reference when off)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: Engine = "onnxruntime"
    precision: Precision | None = None
    simd: bool = True
    threads: Threads = 1
    kernels: Kernels | None = None

    @model_validator(mode="after")
    def _consistent(self) -> EngineSettings:
        if self.engine == "onnxruntime":
            if not self.simd:
                raise SettingsConflict("simd", ONNXRUNTIME_NO_SIMD)
            if self.kernels is not None:
                raise SettingsConflict("kernels", "kernels applies to engine=litert only")
        elif self.kernels in ("xnnpack", "builtin") and not self.simd:
            raise SettingsConflict(
                "kernels", f"kernels={self.kernels} uses SIMD; with simd=off the kernels are 'reference'"
            )
        elif self.kernels == "reference" and self.simd:
            raise SettingsConflict("simd", "kernels=reference are the scalar kernels: set simd=off")
        return self

    @classmethod
    def from_preset(cls, preset: Preset, cores: int = CPU_COUNT) -> dict[str, object]:
        """TF.js's wasm backend variants, on LiteRT (XNNPACK is what TF.js's wasm backend runs);
        `cores`: what "all cores" means (the server's inference cores)."""
        return {
            "scalar": {"engine": "litert", "simd": False, "kernels": "reference", "threads": 1},
            "simd": {"engine": "litert", "simd": True, "kernels": "xnnpack", "threads": 1},
            "simd-threads": {"engine": "litert", "simd": True, "kernels": "xnnpack", "threads": cores},
        }[preset]

    def resolved_kernels(self) -> Kernels | None:
        if self.engine != "litert":
            return None
        return self.kernels or ("xnnpack" if self.simd else "reference")


class ApiKeyFileError(RuntimeError):
    """MVA_API_KEY_FILE cannot be used. Not a ValueError on purpose: pydantic would wrap that in a
    ValidationError that echoes every input, the API key included."""


def read_api_key_file(path: Path, given_as: str = "MVA_API_KEY_FILE") -> str:
    """The key in a secret file, surrounding whitespace (the trailing newline) stripped. `given_as`:
    where the path came from, as the error names it (the CLI's --api-key-file, or the variable)."""
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ApiKeyFileError(f"{given_as} {str(path)!r} cannot be read: {reason}") from None
    if not key:
        raise ApiKeyFileError(f"{given_as} {str(path)!r} is empty: put the API key in it")
    return key


class ServerSettings(BaseSettings):
    """Server configuration; every field is an environment variable MVA_<FIELD> (e.g. MVA_THREADS)."""

    # "inf" parses as a float: an infinite queue timeout answered 500 (its Retry-After), an infinite
    # shutdown delay never drained
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", allow_inf_nan=False)

    models_dir: Path = PROJECT_ROOT / "models"
    # defaults for requests that do not say otherwise
    engine: Engine = "onnxruntime"
    precision: Precision | None = None
    simd: bool = True
    threads: Threads = 1
    kernels: Kernels | None = None
    # limits
    max_upload_bytes: Annotated[int, Field(ge=1)] = 10 * 1024 * 1024
    # an upload that stops arriving for this long gets 408 and its connection closed (nginx's
    # client_body_timeout, for a server reached without a proxy in front)
    receive_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    # and one that, after its first receive_timeout_s, averages less than this gets the same 408: else a
    # byte every 29 s held an upload slot for days (service/api/upload.py, UploadPace). 16 KiB/s (~130
    # kbit/s, under a weak 3G uplink) reads a 10 MiB upload in up to ~11 min
    upload_min_bytes_per_s: Annotated[float, Field(gt=0)] = 16 * 1024
    # uploads being read at once (service/api/upload_slots.py); more get 503 before their body is read.
    # 32 x 10 MiB bounds what they hold to 320 MiB; a client has one upload in flight at a time, and the
    # project's largest load (README's `make loadtest USERS=16`, `loadtest-ci`'s 2 x cores, the bench's
    # 8 clients) has at most 16, so it never triggers there
    max_uploads: Annotated[int, Field(ge=1)] = 32
    max_pixels: Annotated[int, Field(ge=1)] = 50_000_000
    # requests admitted (running + waiting for a core); more get 503 (so 0 would refuse every request)
    max_pending: Annotated[int, Field(ge=1)] = 32
    queue_timeout_s: Annotated[float, Field(gt=0)] = 5.0
    # 0 would close each runner as it is built: no warm runner, a new session per request
    runner_cache_size: Annotated[int, Field(ge=1)] = 8
    # onnxruntime intra-op workers spin-wait for work (only matters with threads > 1); see README Results
    ort_spinning: bool = False
    # onnxruntime int8: signed weights (its VNNI kernels) where the CPU has VNNI and the build verified
    # them (auto), or always / never; the results are the same bit for bit on VNNI CPUs (README
    # Results, "int8 weights"; service/engines/int8_file.py)
    ort_int8_weights: Int8Weights = "auto"
    inference_cores: int = Field(default_factory=cpu_count, ge=1)
    warm_models: list[str] = ["mobilenet_v2", "blazeface_short", "blazeface_full"]
    # preset=auto measures a model on first use; models listed here are measured at start-up instead
    auto_tune_models: list[str] = []
    replica: str = Field(default_factory=lambda: os.environ.get("HOSTNAME", "local"))
    static_dir: Path = PROJECT_ROOT / "web" / "dist"  # the browser page, built by `make web`
    # opt-in micro-batching (onnxruntime only, service/batching.py), batches of at most max_batch images:
    # requests for the same model and settings that arrive within this window (0: off) run as one, or,
    # batch_queued, those that queued up while a batch waited for cores (no window)
    batch_window_ms: float = Field(default=0.0, ge=0.0, le=1000.0)
    batch_queued: bool = False
    max_batch: int = Field(default=8, ge=1, le=64)
    # access: an API key for the inference and model routes (off when unset), CORS origins (none);
    # api_key_file: a file holding the key (a compose or Kubernetes secret), read once here at start-up
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    cors_origins: list[str] = []
    # after SIGTERM: report not-ready at once, keep serving this long (so a load balancer or
    # Kubernetes stops sending), then drain in-flight requests and exit
    shutdown_delay_s: Annotated[float, Field(ge=0)] = 0.0
    # then, a connection accepted less than this long before whose request has not come yet gets the rest
    # of it for the request (service/api/first_request_grace.py); each such connection can hold the
    # shutdown up this long, so it stays well under the drain's 10 s
    first_request_grace_s: Annotated[float, Field(ge=0, le=5)] = FIRST_REQUEST_GRACE_S
    # one JSON line per request on stdout (service/api/access_log.py); off: the latency lab measures
    # without it (its cost is in README Results, "Levers tried")
    access_log: bool = False
    # models_dir's manifest.json, its bytes and what they parse to, read on first use (_read_manifest):
    # the checks below and the app (AppState) take it from here, so that they all see one reading of a
    # file that may change in between
    _manifest_read: tuple[bytes, Manifest] | None = PrivateAttr(default=None)

    @property
    def manifest_json(self) -> bytes:
        """The bytes of the manifest this process runs with (which /v1/manifest serves)."""
        return self._read_manifest()[0]

    @property
    def manifest(self) -> Manifest:
        """The manifest parsed from `manifest_json`."""
        return self._read_manifest()[1]

    def _read_manifest(self) -> tuple[bytes, Manifest]:
        """Read and parsed once, by whichever check (or caller) asks first: the checks need not run in
        a given order. A broken or unreadable one is MVA_MODELS_DIR's problem: one raising outside
        pydantic (a KeyError, an OSError) was a traceback, one without a field named no variable (`MVA_:`)."""
        if self._manifest_read is None:
            path = ArtifactLayout(self.models_dir).manifest
            try:
                data = path.read_bytes()
            except OSError as exc:  # unreadable, a directory, or gone since the field check saw it
                why = exc.strerror or exc
                raise SettingsConflict("models_dir", f"{path} cannot be read: {why}") from None
            try:
                self._manifest_read = (data, Manifest.parse(data, path))
            except ManifestError as exc:
                raise SettingsConflict("models_dir", str(exc)) from None
        return self._manifest_read

    @field_validator("models_dir")
    @classmethod
    def _holds_the_manifest(cls, value: Path) -> Path:
        # exists, not is_file: one there that cannot be read is named so by _read_manifest
        if not (value / "manifest.json").exists():
            raise ValueError(f"no manifest.json there: it should be {MODELS_FOLDER}")
        return value

    @field_validator("api_key")
    @classmethod
    def _key_stripped(cls, value: SecretStr | None) -> SecretStr | None:
        """Surrounding whitespace stripped, as the key file's is: no client can send it (HTTP strips it
        off a header value), so a key from a secret with its trailing newline refused every request."""
        if value is None:
            return None
        key = value.get_secret_value().strip()
        # MVA_API_KEY= (an unset variable in a template) would turn the check on with a key any client
        # has: an empty `X-API-Key:` header
        if not key:
            raise ValueError("is empty: set a key, or leave the variable unset for none")
        return SecretStr(key)

    @field_validator("api_key_file", mode="before")
    @classmethod
    def _empty_means_no_file(cls, value: object) -> object:
        return None if value == "" else value  # MVA_API_KEY_FILE= turns the file off (compose)

    @model_validator(mode="after")
    def _read_api_key_file(self) -> ServerSettings:
        if self.api_key_file is None:
            return self
        if self.api_key is not None:
            raise ApiKeyFileError("set MVA_API_KEY or MVA_API_KEY_FILE, not both")
        self.api_key = SecretStr(read_api_key_file(self.api_key_file))
        return self

    @model_validator(mode="after")
    def _read_the_manifest(self) -> ServerSettings:
        """At start-up, whatever the checks below ask for: the app reads it from here later."""
        self._read_manifest()
        return self

    @model_validator(mode="after")
    def _models_in_the_manifest(self) -> ServerSettings:
        """A model to warm or tune that the manifest does not name would leave the service up but
        never ready: say so at start-up instead."""
        manifest = self.manifest
        for field in ("warm_models", "auto_tune_models"):
            unknown = [name for name in getattr(self, field) if not manifest.knows(name)]
            if unknown:
                known = ", ".join(manifest.models)
                raise SettingsConflict(field, f"not in the manifest: {', '.join(unknown)} (known: {known})")
        return self

    @model_validator(mode="after")
    def _signed_int8_verified(self) -> ServerSettings:
        """`signed` is asked for by name: rather than serve a file never compared with LiteRT (a models
        folder built on a host without VNNI), or one that answers otherwise on this CPU (no VNNI), refuse
        to start and say what to do."""
        if self.ort_int8_weights != "signed":
            return self
        if not has_vnni():  # first: however the build went, the file answers otherwise here
            raise SettingsConflict(
                "ort_int8_weights",
                "int8-signed.onnx gives int8.onnx's answers only on a CPU with VNNI, and this one has none "
                "(its u8 x s8 kernels sum in 16 bits, which saturate): use auto or unsigned",
            )
        layout = ArtifactLayout(self.models_dir)
        for spec in self.manifest.models.values():
            why = signed_int8_unverified(layout, spec.name) if "int8" in spec.precisions else None
            if why is not None:
                raise SettingsConflict(
                    "ort_int8_weights",
                    f"{spec.name}/{layout.onnx_signed_int8(spec.name).name} was not verified ({why}): "
                    "build the models on a host with VNNI (`mobile-vision-api models build`), or use auto "
                    "(int8.onnx where int8-signed.onnx is not verified) or unsigned",
                )
        return self

    @field_validator("inference_cores")
    @classmethod
    def _within_the_cores(cls, value: int) -> int:
        # cores that are not there: `threads` up to them, and preset=simd-threads, would be refused per
        # request (EngineSettings), and the core budget would run more inferences at once than there are cores
        cores = cpu_count()
        if value > cores:
            raise ValueError(f"above the {cores} cores this process may use")
        return value

    @model_validator(mode="after")
    def _threads_within_inference_cores(self) -> ServerSettings:
        if self.threads > self.inference_cores:
            message = f"above MVA_INFERENCE_CORES={self.inference_cores}, the cores a request can get"
            raise SettingsConflict("threads", message)
        return self

    @model_validator(mode="after")
    def _one_way_of_batching(self) -> ServerSettings:
        if self.batch_queued and self.batch_window_ms > 0:
            message = "queued batching has no window: set MVA_BATCH_WINDOW_MS=0, or MVA_BATCH_QUEUED=false"
            raise SettingsConflict("batch_queued", message)
        return self

    @model_validator(mode="after")
    def _window_within_the_queue_timeout(self) -> ServerSettings:
        # a request's wait for the window counts against its queue allowance (service/api/inference.py):
        # with a window as long, every member of a batch that does not fill would get 503
        if self.batch_window_ms >= self.queue_timeout_s * 1000:
            timeout = f"MVA_QUEUE_TIMEOUT_S ({self.queue_timeout_s:g} s)"
            message = f"not shorter than {timeout}, which its wait counts against"
            raise SettingsConflict("batch_window_ms", message)
        return self

    def default_engine_settings(self) -> EngineSettings:
        return EngineSettings.model_validate(self.model_dump(include=set(EngineSettings.model_fields)))


SECRET_FIELDS = {"api_key"}  # their values are never echoed in an error


class InvalidServerSettings(RuntimeError):
    """MVA_* values the server cannot start with: one line per problem, each naming its variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _problem(error: Any) -> str:
    """One pydantic error as `MVA_FIELD: what is wrong (got 'value')`."""
    cause = error.get("ctx", {}).get("error")
    field = getattr(cause, "field", None) or (error["loc"][0] if error["loc"] else "")
    where = "".join(f"[{part}]" for part in error["loc"][1:])  # an item of a list: MVA_WARM_MODELS[0]
    # a validator's own message, without pydantic's "Value error, " in front
    message = str(cause) if isinstance(cause, ValueError) else error["msg"]
    value = error.get("input")
    if isinstance(value, dict):  # a model-level check (SettingsConflict): the value of the field it names,
        # as its variable holds it (the request defaults are checked on parsed values: False for 'off')
        value = os.environ.get(f"{ENV_PREFIX}{str(field).upper()}", value.get(field))
    got = "" if field in SECRET_FIELDS or value is None else f" (got {value!r})"
    return f"{ENV_PREFIX}{str(field).upper()}{where}: {message}{got}"


def _as_json_list(variable: str) -> str:
    """How the value is written, shown with the user's own words (every JSON-typed MVA_* variable is a
    list of strings): `MVA_CORS_ORIGINS=http://a.example` did not say what to write instead."""
    words = re.findall(r"[^\s,\[\]\"']+", os.environ.get(variable, ""))
    example = json.dumps(words or ["..."])
    return f": a JSON list of strings, e.g. {variable}='{example}'"


def load_server_settings() -> ServerSettings:
    """ServerSettings from the environment, checked as the server uses them (the request defaults
    too); InvalidServerSettings instead of pydantic's report, which is many lines per problem and names
    fields, not the variables to change."""
    try:
        settings = ServerSettings()
        settings.default_engine_settings()
    except ValidationError as exc:
        raise InvalidServerSettings([_problem(error) for error in exc.errors()]) from None
    except SettingsError as exc:  # a list or other JSON-typed variable that is not JSON
        named = re.search(r'field "(\w+)"', str(exc))
        if named is None:  # pragma: no cover - pydantic-settings worded it differently
            raise InvalidServerSettings([str(exc)]) from None
        variable = f"{ENV_PREFIX}{named[1].upper()}"
        raise InvalidServerSettings(
            [f"{variable}: not valid JSON ({exc.__cause__}){_as_json_list(variable)}"]
        ) from None
    return settings
