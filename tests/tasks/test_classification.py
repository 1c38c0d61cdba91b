from __future__ import annotations

import numpy as np

from service.tasks.classification import Labels, top_k

LABELS = Labels(["background", "cat", "dog", "bird"], background_index=0)


def test_top_k_is_sorted_and_leaves_out_the_background() -> None:
    scores = np.array([[0.9, 0.02, 0.05, 0.03]], dtype=np.float32)
    predictions = top_k(scores, LABELS, 2)
    assert [(p.class_id, p.label) for p in predictions] == [(2, "dog"), (3, "bird")]
    assert predictions[0].score == np.float32(0.05)


def test_top_k_is_bounded_by_the_real_classes() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)
    assert [p.label for p in top_k(scores, LABELS, 100)] == ["bird", "dog", "cat"]


def test_equal_scores_come_in_class_order() -> None:
    """The int8 model answers in steps of 1/256, so most classes tie (at 0): the lower class id first,
    as tf.math.top_k and the page's topK, never an arbitrary one."""
    labels = Labels([f"class {i}" for i in range(1001)], background_index=0)
    scores = np.zeros(1001, dtype=np.float32)
    scores[[700, 20, 17, 900]] = [0.5, 0.25, 0.25, 0.0039]
    assert [p.class_id for p in top_k(scores, labels, 7)] == [700, 17, 20, 900, 1, 2, 3]
