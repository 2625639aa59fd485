"""The combiner's tree walk: scikit-learn's compiled walker and the numpy fallback agree with the fitted model."""

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from kgplatform.learn import trees
from kgplatform.learn.selector import _pack


def fitted_models(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3000, 6))
    y = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] + rng.normal(scale=0.5, size=3000) > 0).astype(int)
    models = [HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=15, random_state=s).fit(x, y)
              for s in range(3)]
    return models, rng.normal(size=(500, 6))


def test_both_walks_give_the_fitted_models_mean_logit():
    models, x = fitted_models()
    packed = _pack(models, base_rate=0.5, num_relations=0)
    expected = np.mean([m.decision_function(x) for m in models], axis=0)
    args = (packed.feature, packed.threshold, packed.left, packed.right, packed.is_leaf, packed.value, packed.roots)
    compiled = trees._compiled_sum(np.ascontiguousarray(x), *args) / packed.folds + packed.baseline
    walked = trees._numpy_sum(x, *args) / packed.folds + packed.baseline
    assert np.allclose(compiled, expected, atol=1e-9)
    assert np.allclose(walked, expected, atol=1e-9)
    assert np.allclose(trees.tree_outputs_sum(x, *args) / packed.folds + packed.baseline, expected, atol=1e-9)


def test_a_missing_compiled_walker_falls_back_to_numpy(monkeypatch):
    models, x = fitted_models(1)
    packed = _pack(models, base_rate=0.5, num_relations=0)
    args = (packed.feature, packed.threshold, packed.left, packed.right, packed.is_leaf, packed.value, packed.roots)

    def missing(*_):
        raise ImportError("no compiled walker")

    monkeypatch.setattr(trees, "_compiled_sum", missing)
    assert np.allclose(trees.tree_outputs_sum(x, *args), trees._numpy_sum(x, *args))
