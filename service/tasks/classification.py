"""Classifier scores -> the top-k labels, the background class left out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Prediction:
    class_id: int  # index in the model's output (1..1000 for ImageNet with background at 0)
    label: str
    score: float


class Labels:
    def __init__(self, names: list[str], background_index: int | None) -> None:
        self.names = names
        self.background_index = background_index

    @classmethod
    def load(cls, path: Path, background_index: int | None) -> Labels:
        return cls(path.read_text(encoding="utf-8").splitlines(), background_index)

    def __len__(self) -> int:
        return len(self.names)


def top_k(scores: np.ndarray, labels: Labels, k: int) -> list[Prediction]:
    flat = scores.reshape(-1)
    if labels.background_index is not None:
        flat = flat.copy()
        flat[labels.background_index] = -np.inf
    k = max(1, min(k, flat.size - (labels.background_index is not None)))
    # equal scores (frequent in the int8 model's output) in class order, as tf.math.top_k and the
    # page's topK (web/src/classification.mjs) give them, so both sides list the same classes
    best = np.argsort(-flat, kind="stable")[:k]
    return [Prediction(int(i), labels.names[i], float(flat[i])) for i in best]
