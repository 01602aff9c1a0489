"""Tests for tinyattn_lab.metrics against values worked out by hand."""

import math

import numpy as np
import pytest

from tinyattn_lab.data.metrics import glue_metrics, logits_to_predictions, majority_baseline

# a 2x2 confusion with every cell different: TP=2, FN=2, FP=1, TN=3
LABELS = [1, 1, 1, 1, 0, 0, 0, 0]
PREDS = [1, 1, 0, 0, 1, 0, 0, 0]


def test_cola_matthews_by_hand():
    # MCC = (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (6 - 2) / sqrt(3*4*4*5)
    m = glue_metrics("cola", PREDS, LABELS)
    assert set(m) == {"matthews"}
    assert m["matthews"] == pytest.approx(4 / math.sqrt(240))
    assert type(m["matthews"]) is float


def test_mrpc_accuracy_and_positive_class_f1():
    # precision 2/3, recall 2/4 -> F1 = 2*TP / (2*TP + FP + FN) = 4/7; accuracy 5/8
    m = glue_metrics("mrpc", PREDS, LABELS)
    assert m == pytest.approx({"accuracy": 5 / 8, "f1": 4 / 7})
    # F1 is of class 1: swapping the class ids gives the F1 of the other class, 2*TN/(2*TN+FN+FP) = 6/9
    flipped = glue_metrics("qqp", 1 - np.array(PREDS), 1 - np.array(LABELS))
    assert flipped["f1"] == pytest.approx(6 / 9)
    assert flipped["accuracy"] == pytest.approx(5 / 8)


def test_f1_zero_when_no_positive_predicted():
    assert glue_metrics("mrpc", [0, 0, 0], [1, 0, 1])["f1"] == 0.0


@pytest.mark.parametrize("task", ["sst2", "mnli", "qnli", "rte", "wnli"])
def test_accuracy_tasks(task):
    m = glue_metrics(task, [0, 1, 1, 0], [0, 1, 0, 0])
    assert m == {"accuracy": 0.75}


def test_mnli_three_classes():
    assert glue_metrics("mnli", [0, 1, 2, 2, 1], [0, 1, 2, 0, 0]) == {"accuracy": 0.6}


def test_stsb_pearson_exact():
    # deviations from the mean 2.5: a = [-1.5, -.5, .5, 1.5], b = [-1.5, .5, -.5, 1.5]
    # sum(a*b) = 4, sum(a*a) = sum(b*b) = 5 -> r = 0.8; the ranks are the same numbers, so rho = 0.8 too
    m = glue_metrics("stsb", [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0])
    assert m == pytest.approx({"pearson": 0.8, "spearman": 0.8})
    assert glue_metrics("stsb", [1, 2, 3], [2, 4, 6])["pearson"] == pytest.approx(1.0)


def test_stsb_spearman_uses_ranks():
    # label ranks [1, 4, 3, 2] vs prediction ranks [1, 2, 3, 4]: d = [0, -2, 0, 2], sum d^2 = 8
    # rho = 1 - 6*8 / (4*(16-1)) = 0.2
    m = glue_metrics("stsb", [10.0, 20.0, 30.0, 40.0], [0.1, 5.0, 0.3, 0.2])
    assert m["spearman"] == pytest.approx(0.2)
    # monotone but not linear: rank correlation is perfect, linear correlation is not
    m = glue_metrics("stsb", [1.0, 2.0, 3.0, 4.0], [1.0, 8.0, 27.0, 64.0])
    assert m["spearman"] == pytest.approx(1.0)
    assert m["pearson"] < 0.99


def test_stsb_predictions_are_not_clipped():
    preds, labels = np.array([-2.0, 1.0, 2.5, 9.0]), np.array([0.0, 1.0, 2.0, 5.0])
    raw = np.corrcoef(preds, labels)[0, 1]
    clipped = np.corrcoef(np.clip(preds, 0, 5), labels)[0, 1]
    assert raw != pytest.approx(clipped)
    assert glue_metrics("stsb", preds, labels)["pearson"] == pytest.approx(raw)


def test_stsb_constant_predictions_give_nan():
    m = glue_metrics("stsb", [2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert math.isnan(m["pearson"]) and math.isnan(m["spearman"])


def test_stsb_accepts_column_vector():
    m = glue_metrics("stsb", np.array([[1.0], [2.0], [3.0]]), [1.0, 2.0, 3.0])
    assert m["pearson"] == pytest.approx(1.0)


def test_length_mismatch_and_empty_raise():
    with pytest.raises(ValueError, match="3 predictions but 2 labels"):
        glue_metrics("sst2", [0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="no examples"):
        glue_metrics("sst2", [], [])


def test_unlabeled_rows_rejected():
    with pytest.raises(ValueError, match="unlabeled"):
        glue_metrics("rte", [0, 1], [-1, -1])


def test_logits_instead_of_predictions_rejected():
    with pytest.raises(ValueError, match="logits_to_predictions"):
        glue_metrics("sst2", np.zeros((4, 2)), [0, 1, 0, 1])


def test_logits_to_predictions():
    logits = np.array([[0.1, 2.0], [3.0, -1.0], [0.0, 0.5]])
    np.testing.assert_array_equal(logits_to_predictions("sst2", logits), [1, 0, 1])
    np.testing.assert_array_equal(
        logits_to_predictions("mnli", [[0.0, 0.1, 0.2], [5.0, 0.0, 0.0]]), [2, 0])
    np.testing.assert_allclose(logits_to_predictions("stsb", [[1.5], [4.0]]), [1.5, 4.0])
    # HF Trainer style (logits, extra) tuple
    np.testing.assert_array_equal(logits_to_predictions("sst2", (logits, None)), [1, 0, 1])


def test_logits_to_predictions_torch_tensor():
    torch = pytest.importorskip("torch")
    logits = torch.tensor([[0.0, 1.0], [2.0, 0.0]], requires_grad=True)
    np.testing.assert_array_equal(logits_to_predictions("rte", logits), [1, 0])


def test_logits_shape_errors():
    with pytest.raises(ValueError, match="num_labels=3"):
        logits_to_predictions("mnli", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="num_labels=1"):
        logits_to_predictions("stsb", np.zeros((2, 2)))


def test_majority_baseline():
    labels = [0, 1, 1, 1]
    # always 1: accuracy 3/4, F1 = 2*3 / (2*3 + 1 + 0) = 6/7
    assert majority_baseline("mrpc", labels) == pytest.approx({"accuracy": 0.75, "f1": 6 / 7})
    # a constant predictor has MCC 0
    assert majority_baseline("cola", labels) == {"matthews": 0.0}
    # the majority comes from the training labels when given: train says 0, so accuracy is 1/4
    assert majority_baseline("sst2", labels, train_labels=[0, 0, 1]) == {"accuracy": 0.25}


def test_majority_baseline_stsb_is_nan():
    m = majority_baseline("stsb", [0.0, 2.5, 5.0])
    assert math.isnan(m["pearson"])


def test_unknown_task_in_metrics():
    with pytest.raises(ValueError, match="known tasks"):
        glue_metrics("squad", [0], [0])
