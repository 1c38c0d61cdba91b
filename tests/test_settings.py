from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.artifacts import ArtifactLayout
from service.settings import (
    CPU_COUNT,
    ENV_PREFIX,
    ApiKeyFileError,
    EngineSettings,
    InvalidServerSettings,
    ServerSettings,
    _problem,
    load_server_settings,
)
from tests.conftest import models_with_int8_signed
from tests.readme import section


def test_presets_mirror_tfjs_wasm_backends() -> None:
    scalar = EngineSettings(**EngineSettings.from_preset("scalar"))
    simd = EngineSettings(**EngineSettings.from_preset("simd"))
    threads = EngineSettings(**EngineSettings.from_preset("simd-threads"))
    assert (scalar.engine, scalar.simd, scalar.resolved_kernels(), scalar.threads) == (
        "litert",
        False,
        "reference",
        1,
    )
    assert (simd.simd, simd.resolved_kernels(), simd.threads) == (True, "xnnpack", 1)
    assert threads.threads == CPU_COUNT


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"engine": "onnxruntime", "simd": False}, "simd"),
        ({"engine": "onnxruntime", "kernels": "builtin"}, "kernels"),
        ({"engine": "litert", "simd": False, "kernels": "xnnpack"}, "kernels"),
        ({"threads": 0}, "threads"),
        ({"threads": CPU_COUNT + 1}, "threads"),
    ],
)
def test_invalid_combinations(values: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        EngineSettings(**values)
    error = info.value.errors()[0]
    named = getattr(error.get("ctx", {}).get("error"), "field", None) or error["loc"][0]
    assert named == field


def test_server_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MVA_ENGINE", "litert")
    monkeypatch.setenv("MVA_THREADS", "1")
    monkeypatch.setenv("MVA_MAX_UPLOAD_BYTES", "1234")
    settings = ServerSettings()
    assert settings.default_engine_settings().engine == "litert"
    assert settings.max_upload_bytes == 1234


def test_api_key_is_read_from_a_secret_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "api_key"
    secret.write_text("  key-from-a-file\n")
    monkeypatch.setenv("MVA_API_KEY_FILE", str(secret))
    settings = ServerSettings()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "key-from-a-file"
    assert "key-from-a-file" not in repr(settings)


def test_an_empty_api_key_file_setting_means_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MVA_API_KEY_FILE", "")
    assert ServerSettings().api_key is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "cannot be read: No such file or directory"), (" \n", "is empty"), ("dir", "Is a directory")],
)
def test_an_unusable_api_key_file_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None, problem: str
) -> None:
    secret = tmp_path / "api_key"
    if content == "dir":
        secret.mkdir()
    elif content is not None:
        secret.write_text(content)
    monkeypatch.setenv("MVA_API_KEY_FILE", str(secret))
    with pytest.raises(ApiKeyFileError, match=problem) as info:
        ServerSettings()
    assert str(secret) in str(info.value)


def test_a_key_and_a_key_file_together_are_refused_without_echoing_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "api_key"
    secret.write_text("from-the-file")
    monkeypatch.setenv("MVA_API_KEY_FILE", str(secret))
    monkeypatch.setenv("MVA_API_KEY", "from-the-environment")
    with pytest.raises(ApiKeyFileError, match="not both") as info:
        ServerSettings()
    assert "from-the-environment" not in str(info.value) and "from-the-file" not in str(info.value)


def test_invalid_values_are_one_line_each_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MVA_ENGINE", "foo")
    monkeypatch.setenv("MVA_THREADS", "abc")
    monkeypatch.setenv("MVA_MODELS_DIR", str(tmp_path))
    with pytest.raises(InvalidServerSettings) as info:
        load_server_settings()
    assert info.value.problems == [
        f"MVA_MODELS_DIR: no manifest.json there: it should be the models folder (manifest.json, build/) "
        f"(got {str(tmp_path)!r})",
        "MVA_ENGINE: Input should be 'onnxruntime' or 'litert' (got 'foo')",
        "MVA_THREADS: Input should be a valid integer, unable to parse string as an integer (got 'abc')",
    ]


@pytest.mark.parametrize(
    ("threads", "problem"),
    [
        ("0", "MVA_THREADS: Input should be greater than or equal to 1 (got '0')"),
        (
            str(CPU_COUNT + 1),
            f"MVA_THREADS: threads must be between 1 and {CPU_COUNT} (the cores this process may use) "
            f"(got '{CPU_COUNT + 1}')",
        ),
    ],
)
def test_every_bad_request_default_is_named_beside_the_other_variables(
    monkeypatch: pytest.MonkeyPatch, threads: str, problem: str
) -> None:
    """MVA_THREADS' range was checked only with the request defaults, once every variable had parsed: a
    bad one showed up only after the others were fixed. The other request defaults are types that
    ServerSettings checks as it parses (engine, precision, simd, kernels)."""
    bad = {
        "MVA_ENGINE": "foo",
        "MVA_PRECISION": "int4",
        "MVA_SIMD": "maybe",
        "MVA_THREADS": threads,
        "MVA_KERNELS": "fast",
        "MVA_MAX_PIXELS": "abc",
    }
    for name, value in bad.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidServerSettings) as info:
        load_server_settings()
    named = [line.split(":")[0] for line in info.value.problems]
    assert sorted(named) == sorted(bad), info.value.problems
    assert problem in info.value.problems


def test_a_manifest_that_cannot_be_read_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An OSError reading it (unreadable, a directory, gone since the field check) was a traceback. A
    directory stands for them: mode 000 does not stop root, which the tests may run as."""
    (tmp_path / "manifest.json").mkdir()
    monkeypatch.setenv("MVA_MODELS_DIR", str(tmp_path))
    with pytest.raises(InvalidServerSettings) as info:
        load_server_settings()
    (problem,) = info.value.problems
    assert problem.startswith(f"MVA_MODELS_DIR: {tmp_path / 'manifest.json'} cannot be read: Is a directory")


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"MVA_SIMD": "off"}, "MVA_SIMD: onnxruntime cannot switch SIMD off"),  # the request defaults too
        # a list wants ["..."]: said with the user's own words
        (
            {"MVA_WARM_MODELS": "mobilenet_v2, blazeface_short"},
            "MVA_WARM_MODELS: not valid JSON (Expecting value: line 1 column 1 (char 0)): a JSON list of "
            """strings, e.g. MVA_WARM_MODELS='["mobilenet_v2", "blazeface_short"]'""",
        ),
        (
            {"MVA_CORS_ORIGINS": '["http://a.example"'},
            "MVA_CORS_ORIGINS: not valid JSON (Expecting ',' delimiter: line 1 column 20 (char 19)): a JSON "
            """list of strings, e.g. MVA_CORS_ORIGINS='["http://a.example"]'""",
        ),
        ({"MVA_WARM_MODELS": "[1]"}, "MVA_WARM_MODELS[0]: Input should be a valid string (got 1)"),
    ],
)
def test_invalid_values_in_checks_beyond_the_types(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], problem: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidServerSettings) as info:
        load_server_settings()
    assert len(info.value.problems) == 1 and info.value.problems[0].startswith(problem)


def test_the_api_key_is_never_echoed_in_a_problem() -> None:
    error = {"loc": ("api_key",), "msg": "String should have at least 16 characters", "input": "secret-key"}
    assert _problem(error) == "MVA_API_KEY: String should have at least 16 characters"


def test_default_threads_above_the_inference_cores_stop_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MVA_INFERENCE_CORES", "1")
    monkeypatch.setenv("MVA_THREADS", "2")
    with pytest.raises(InvalidServerSettings) as info:
        load_server_settings()
    problem = "MVA_THREADS: above MVA_INFERENCE_CORES=1, the cores a request can get (got '2')"
    assert info.value.problems == [problem]


@pytest.mark.parametrize(
    ("env", "problem", "fixed"),
    [
        # queued batching has no window: asking for both is asking for two things at once
        (
            {"MVA_BATCH_QUEUED": "true", "MVA_BATCH_WINDOW_MS": "5"},
            "MVA_BATCH_QUEUED: queued batching has no window: set MVA_BATCH_WINDOW_MS=0, or "
            "MVA_BATCH_QUEUED=false (got 'true')",
            {"MVA_BATCH_WINDOW_MS": "0"},
        ),
        # a request's wait for the window counts against its queue allowance: with a window as long,
        # every member of a batch that does not fill would get 503
        (
            {"MVA_QUEUE_TIMEOUT_S": "0.5", "MVA_BATCH_WINDOW_MS": "500"},
            "MVA_BATCH_WINDOW_MS: not shorter than MVA_QUEUE_TIMEOUT_S (0.5 s), which its wait counts "
            "against (got '500')",
            {"MVA_BATCH_WINDOW_MS": "499"},
        ),
    ],
)
def test_batching_settings_that_conflict_stop_start_up(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], problem: str, fixed: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidServerSettings) as info:
        load_server_settings()
    assert info.value.problems == [problem]
    for name, value in fixed.items():
        monkeypatch.setenv(name, value)
    assert load_server_settings().model_dump(include={"batch_queued", "batch_window_ms"}) == {
        "batch_queued": env.get("MVA_BATCH_QUEUED") == "true",
        "batch_window_ms": float(fixed["MVA_BATCH_WINDOW_MS"]),
    }


def test_a_model_to_warm_that_the_manifest_does_not_name_stops_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Else the service would stay up and never become ready."""
    monkeypatch.setenv("MVA_WARM_MODELS", '["mobilenet_v2", "resnet50"]')
    with pytest.raises(InvalidServerSettings) as info:
        load_server_settings()
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(
        "MVA_WARM_MODELS: not in the manifest: resnet50 (known: mobilenet_v2"
    )
    monkeypatch.setenv("MVA_WARM_MODELS", '["short"]')  # an alias is a name the manifest knows
    assert load_server_settings().warm_models == ["short"]


def test_a_problem_found_in_the_request_defaults_echoes_the_value_as_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MVA_SIMD=off is checked as the request defaults (a bool by then): the line says 'off', not False."""
    monkeypatch.setenv("MVA_SIMD", "off")
    with pytest.raises(InvalidServerSettings) as info:
        load_server_settings()
    assert info.value.problems[0].endswith("(got 'off')"), info.value.problems


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MVA_MAX_PENDING", "0"),  # every request 503 overloaded
        ("MVA_MAX_PENDING", "-1"),
        ("MVA_QUEUE_TIMEOUT_S", "0"),  # every request that waits at all 503
        ("MVA_QUEUE_TIMEOUT_S", "-1"),
        ("MVA_MAX_UPLOAD_BYTES", "0"),  # every upload 413
        ("MVA_MAX_PIXELS", "-5"),  # every image 413
        ("MVA_RUNNER_CACHE_SIZE", "0"),  # every runner closed as it is built
        ("MVA_SHUTDOWN_DELAY_S", "-3"),
    ],
)
def test_limits_that_would_refuse_every_request_stop_start_up(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidServerSettings) as info:
        load_server_settings()
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"{name}: Input should be greater than")
    assert info.value.problems[0].endswith(f"(got {value!r})")


def test_inference_cores_above_the_cores_there_are_stop_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Else the server starts and refuses preset=simd-threads (it asks for all of them) on every request."""
    monkeypatch.setenv("MVA_INFERENCE_CORES", str(CPU_COUNT + 1))
    with pytest.raises(InvalidServerSettings) as info:
        load_server_settings()
    problem = f"MVA_INFERENCE_CORES: above the {CPU_COUNT} cores this process may use (got '{CPU_COUNT + 1}')"
    assert info.value.problems == [problem]
    monkeypatch.setenv("MVA_INFERENCE_CORES", str(CPU_COUNT))
    assert load_server_settings().inference_cores == CPU_COUNT


@pytest.mark.parametrize("name", ["MVA_QUEUE_TIMEOUT_S", "MVA_RECEIVE_TIMEOUT_S", "MVA_SHUTDOWN_DELAY_S"])
def test_an_infinite_time_stops_start_up(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """MVA_QUEUE_TIMEOUT_S=inf answered an overloaded request with 500 (its Retry-After cannot be an int)."""
    monkeypatch.setenv(name, "inf")
    with pytest.raises(InvalidServerSettings) as info:
        load_server_settings()
    assert info.value.problems == [f"{name}: Input should be a finite number (got 'inf')"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [("-1", "greater than or equal to 0"), ("6", "less than or equal to 5")],
)
def test_a_first_request_grace_outside_its_bounds_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    """Each connection in its grace holds the shutdown up that long: above 5 s it would eat the drain's
    10 s (service/server.py GRACEFUL_TIMEOUT_S)."""
    monkeypatch.setenv("MVA_FIRST_REQUEST_GRACE_S", value)
    with pytest.raises(InvalidServerSettings) as info:
        load_server_settings()
    assert info.value.problems == [f"MVA_FIRST_REQUEST_GRACE_S: Input should be {problem} (got {value!r})"]


@pytest.mark.parametrize(
    ("vnni", "verified", "problem"),
    [
        # a models folder built on a host without VNNI, whose int8-signed.onnx was never compared with
        # LiteRT (auto runs int8.onnx then), served on a CPU with VNNI: the build's verdict decides
        (
            True,
            False,
            "MVA_ORT_INT8_WEIGHTS: mobilenet_v2/int8-signed.onnx was not verified (the build skipped it: no "
            "VNNI on the build host; the server uses int8.onnx there): build the models on a host with VNNI "
            "(`mobile-vision-api models build`), or use auto (int8.onnx where int8-signed.onnx is not "
            "verified) or unsigned (got 'signed')",
        ),
        # a verified one served on a CPU without VNNI ran onnxruntime's 16-bit-sum u8 x s8 kernels, which
        # saturate: outputs off by up to 0.035 and face.jpg's top-1 class changed (618 instead of 524),
        # without a word; the CPU is checked first, whatever the build says
        (
            False,
            True,
            "MVA_ORT_INT8_WEIGHTS: int8-signed.onnx gives int8.onnx's answers only on a CPU with VNNI, and "
            "this one has none (its u8 x s8 kernels sum in 16 bits, which saturate): use auto or unsigned "
            "(got 'signed')",
        ),
    ],
    ids=["a CPU with VNNI, not verified", "a CPU without VNNI, verified"],
)
def test_int8_signed_by_name_stops_start_up_where_it_may_answer_otherwise(
    monkeypatch: pytest.MonkeyPatch,
    layout: ArtifactLayout,
    tmp_path: Path,
    vnni: bool,
    verified: bool,
    problem: str,
) -> None:
    """MVA_ORT_INT8_WEIGHTS=signed, on either kind of CPU (this one's answer replaced)."""
    monkeypatch.setattr("service.settings.has_vnni", lambda: vnni)
    monkeypatch.setenv("MVA_ORT_INT8_WEIGHTS", "signed")
    monkeypatch.setenv("MVA_MODELS_DIR", str(models_with_int8_signed(layout, tmp_path, verified).root))
    with pytest.raises(InvalidServerSettings) as info:
        load_server_settings()
    assert info.value.problems == [problem]


def test_int8_signed_by_name_starts_on_a_cpu_with_vnni_from_a_build_that_verified_it(
    monkeypatch: pytest.MonkeyPatch, layout: ArtifactLayout, tmp_path: Path
) -> None:
    monkeypatch.setattr("service.settings.has_vnni", lambda: True)
    monkeypatch.setenv("MVA_ORT_INT8_WEIGHTS", "signed")
    monkeypatch.setenv("MVA_MODELS_DIR", str(models_with_int8_signed(layout, tmp_path, True).root))
    assert load_server_settings().ort_int8_weights == "signed"


def test_the_readme_names_every_server_variable() -> None:
    """README, "Settings": a variable the section leaves out is one a user cannot find."""
    settings = section("### Settings")
    variables = {f"{ENV_PREFIX}{name.upper()}" for name in ServerSettings.model_fields}
    assert {v for v in variables if f"`{v}`" not in settings} == set()


def test_the_readme_gives_each_list_variables_default_as_json() -> None:
    """README, "Settings": a list variable is JSON (MVA_WARM_MODELS=mobilenet_v2 stops the server), so
    its default is written as the JSON to type; MVA_WARM_MODELS had none."""
    text = " ".join(section("### Settings").split())  # a default may wrap over lines
    defaults = {
        f"{ENV_PREFIX}{name.upper()}": field.default
        for name, field in ServerSettings.model_fields.items()
        if isinstance(field.default, list)
    }
    assert defaults
    assert {v for v, default in defaults.items() if f"`{v}` (`{json.dumps(default)}`" not in text} == set()
