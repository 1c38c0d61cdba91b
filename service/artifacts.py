"""Where the model build puts its outputs, so that the builder and the server agree on paths."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from service.manifest import Precision

# what a models folder holds, for the messages that say a given folder is not one
MODELS_FOLDER = "the models folder (manifest.json, build/)"


class _LockEntry(BaseModel):
    """What readers index into in a model's lock entry (build.up_to_date, int8_file, /v1/models); the
    rest (spec_sha256, verified_on, tools) they only compare, so no value of it can crash them."""

    # strict: as json.loads gives it, nothing coerced; extra: checked only, the lock is kept as written
    model_config = ConfigDict(strict=True, extra="allow")
    files: dict[str, str] = {}
    verification: dict[str, dict[str, Any]] = {}  # per file its figures: "max_abs" or "skipped"


class _LockShape(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")
    models: dict[str, _LockEntry] = {}


# the JSON names of what json.loads gives, for a message about the file
_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def _wrong_shape(error: ValidationError) -> str:
    """The first part of the lock that is not what its readers index into, e.g.
    `models.mobilenet_v2.verification: a JSON null, not an object`."""
    first = error.errors()[0]
    where = ".".join(map(str, first["loc"]))
    found = _JSON_TYPES.get(type(first["input"]), "null")
    expected = "a string" if first["type"] == "string_type" else "an object"
    return f"{where + ': ' if where else ''}a JSON {found}, not {expected}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ArtifactLayout:
    """`<root>/build/<model>/{source.tflite,labels.txt,<precision>.onnx,<precision>.onnx.gz,
    int8-signed.onnx,fp32-batch1.onnx}` plus `<root>/build/lock.json`."""

    root: Path  # the `models/` folder that holds manifest.json

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def build_dir(self) -> Path:
        return self.root / "build"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def lock(self) -> Path:
        return self.build_dir / "lock.json"

    def model_dir(self, model: str) -> Path:
        return self.build_dir / model

    def tflite(self, model: str) -> Path:
        return self.model_dir(model) / "source.tflite"

    def labels(self, model: str) -> Path:
        return self.model_dir(model) / "labels.txt"

    def onnx(self, model: str, precision: Precision) -> Path:
        return self.model_dir(model) / f"{precision}.onnx"

    def onnx_signed_int8(self, model: str) -> Path:
        """int8.onnx with signed weights (modelbuild.convert.signed_int8_weights): same results, the
        file onnxruntime runs on CPUs with VNNI."""
        return self.model_dir(model) / "int8-signed.onnx"

    def onnx_fixed_batch(self, model: str, precision: Precision) -> Path:
        """<precision>.onnx with the batch fixed at 1 (built for fp32 only): for onnxruntime-web's
        WebGL backend, which cannot run the symbolic batch the server's micro-batching needs."""
        return self.model_dir(model) / f"{precision}-batch1.onnx"

    def read_lock(self) -> dict[str, Any]:
        """{} when there is none; a ValueError when it is cut short or hand-edited (`unreadable_lock`),
        also to a shape its readers cannot index into (`"models": []`, an entry or its "files" or
        "verification" that is no object): they handle that ValueError, not an AttributeError."""
        if not self.lock.exists():
            return {}
        lock = json.loads(self.lock.read_text())
        try:
            _LockShape.model_validate(lock)
        except ValidationError as exc:  # a ValueError too, but pages long and in pydantic's words
            raise ValueError(_wrong_shape(exc)) from None
        return lock

    def unreadable_lock(self, error: ValueError) -> str:
        """What `read_lock`'s ValueError means, in words a client may read (no folder named)."""
        return f"{self.lock.name} cannot be read ({error})"

    def write_lock(self, lock: dict[str, Any]) -> bool:
        """Write lock.json only when its content changes (True then): a build that changed nothing
        leaves the file, and its mtime, alone."""
        text = json.dumps(lock, indent=2, sort_keys=True) + "\n"
        if self.lock.exists() and self.lock.read_text() == text:
            return False
        self.build_dir.mkdir(parents=True, exist_ok=True)
        # whole or not at all: a lock cut short by an interrupted write would stop every later build
        part = self.lock.with_name(self.lock.name + ".part")
        part.write_text(text)
        part.replace(self.lock)
        return True
