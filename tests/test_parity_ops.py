"""Operation nodes (x + y, ops.mean, x[:, 1:], ...) of saved functional models, against Keras itself:
every node's output shape as Keras computed it, from rules alone (no Keras fallback), and MACs by hand."""
import os
import random

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import cnnscope
from cnnscope.targets import analyze_target

EXAMPLES = int(os.environ.get("CNNSCOPE_HYPOTHESIS_EXAMPLES", "200")) // 2


def _saved_rows(model, path):
    model.save(path)
    analysis = analyze_target(str(path), keras=False)  # rules only: an op without one would be an error
    return analysis, {row.name: row for row in analysis.layers}


def _assert_same_shapes(model, rows):
    for op in model.operations:
        if type(op).__name__ == "InputLayer":
            continue
        assert rows[op.name].output_shape == list(op.output.shape[1:]), op.name


def test_arithmetic_reductions_and_reshapes(tmp_path):
    import keras
    from keras import ops

    x, y = keras.Input((6, 4)), keras.Input((6, 4))
    a = x + y
    b = a * 2.0
    d = ops.reshape(b, (-1, 4, 6))
    e = ops.transpose(d, (0, 2, 1))
    outputs = [
        keras.layers.Dense(3)(ops.mean(b, axis=1)), ops.matmul(e, ops.transpose(e, (0, 2, 1))),
        ops.concatenate([e, e], axis=-1), ops.squeeze(ops.expand_dims(ops.sum(b, axis=1), -1), -1),
        ops.softmax(ops.relu(e[:, 1:4, :])), ops.sum(ops.cast(x > 0, "float32"), axis=[1, 2], keepdims=True),
        ops.sqrt(ops.abs(x)) - ops.exp(y), ops.maximum(x, 0.0), ops.power(x, 2.0), 1.0 - x, x / 3,
        ops.clip(x, 0.0, 1.0), ops.where(x > 0, x, 0.0), ops.stack([x, y], axis=1), x[..., None, 1], x[:, -1],
        ops.take(x, [0, 2], axis=1), ops.gelu(x), ops.max(x, axis=-1), ops.argmax(x, axis=-1),
        ops.norm(x, axis=-1), ops.log_softmax(x), ops.tile(x, (1, 2, 1)), ops.repeat(x, 2, axis=1),
        ops.flip(x, 1), ops.pad(x, [[0, 0], [1, 1], [0, 0]]), ops.cumsum(x, axis=1), ops.negative(x),
        x + ops.mean(x, axis=1, keepdims=True), x[:, ::2, 1:3],
    ]
    model = keras.Model([x, y], outputs)
    analysis, rows = _saved_rows(model, tmp_path / "ops.keras")
    _assert_same_shapes(model, rows)
    assert analysis.params == model.count_params()
    by_type = {row.type: row for row in reversed(analysis.layers)}  # the first of each type
    assert by_type["ops.Matmul"].macs == 6 * 6 * 4  # (6 x 4) @ (4 x 6) per sample
    assert by_type["ops.Add"].flops == 6 * 4


def test_einsum_attention_by_hand(tmp_path):
    """A hand-written attention block: ops.einsum scores and weighted sum, each with its MACs."""
    import keras
    from keras import ops

    q = keras.Input((5, 8))
    k = keras.layers.Dense(8)(q)
    scores = ops.softmax(ops.einsum("bqd,bkd->bqk", q, k) / 8 ** 0.5)
    out = ops.einsum("bqk,bkd->bqd", scores, k)
    model = keras.Model(q, out)
    analysis, rows = _saved_rows(model, tmp_path / "attention.keras")
    _assert_same_shapes(model, rows)
    assert [r.macs for r in analysis.layers if r.type == "ops.Einsum"] == [5 * 5 * 8, 5 * 5 * 8]


def test_unknown_steps_stay_unknown(tmp_path):
    import keras
    from keras import ops

    x = keras.Input((None, 4))
    model = keras.Model(x, ops.mean(x * x, axis=1) + ops.max(x[:, 1:], axis=1))
    analysis, rows = _saved_rows(model, tmp_path / "none.keras")
    _assert_same_shapes(model, rows)
    product = next(row for row in analysis.layers if row.type == "ops.Multiply")
    assert product.output_shape == [None, 4] and product.flops is None


def test_an_op_without_a_rule_comes_from_keras_and_says_so(tmp_path):
    import keras
    from keras import ops

    x = keras.Input((6, 4))
    model = keras.Model(x, ops.triu(x) + 1.0)
    model.save(tmp_path / "triu.keras")
    analysis = analyze_target(str(tmp_path / "triu.keras"))
    row = next(r for r in analysis.layers if r.type == "ops.Triu")
    assert (row.output_shape, row.source, row.macs) == ([6, 4], "keras", None)
    assert any("ops.Triu" in note for note in analysis.notes)
    with pytest.raises(cnnscope.CnnscopeError, match="ops.Triu"):
        analyze_target(str(tmp_path / "triu.keras"), keras=False)


UNARY = ["relu", "sigmoid", "tanh", "exp", "abs", "square", "negative", "gelu", "silu", "softmax"]


def _random_op(r: random.Random, x):
    """One keras.ops call on x (batch, a, b), sometimes one Keras refuses (a wrong axis or shape)."""
    from keras import ops

    kind = r.choice(["unary", "binary", "reduce", "reshape", "transpose", "slice", "concat", "expand", "matmul"])
    rank = len(x.shape)
    if kind == "unary":
        return getattr(ops, r.choice(UNARY))(x)
    if kind == "binary":
        other = r.choice([2.0, x, ops.mean(x, axis=-1, keepdims=True)])
        return r.choice([ops.add, ops.subtract, ops.multiply, ops.maximum, ops.divide])(x, other)
    if kind == "reduce":
        return r.choice([ops.mean, ops.sum, ops.max])(x, axis=r.randint(1, rank - 1), keepdims=r.random() < 0.5)
    if kind == "reshape":
        return ops.reshape(x, (-1, *r.choice([(-1,), (2, -1), (-1, 3), (4, 6)])))
    if kind == "transpose":
        return ops.transpose(x, (0, *r.sample(range(1, rank), rank - 1)))
    if kind == "slice":
        start = r.randint(-2, 2)
        return x[:, start:] if r.random() < 0.5 else x[..., :: r.randint(1, 2)]
    if kind == "concat":
        return ops.concatenate([x, x], axis=r.randint(1, rank - 1) * r.choice([1, -1]))
    if kind == "expand":
        return ops.expand_dims(x, r.randint(1, rank))
    return ops.matmul(x, ops.transpose(x, (0, *range(1, rank - 2), rank - 1, rank - 2))) if rank >= 3 else x


@settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("CI") == "true",
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1))
def test_random_op_chains_agree_with_keras(tmp_path, seed):
    import keras

    r = random.Random(seed)
    x = keras.Input((r.choice([None, 2, 4]), r.choice([2, 3, 6])))
    y = x
    try:
        for _ in range(r.randint(1, 4)):
            y = _random_op(r, y)
    except (ValueError, TypeError, IndexError):
        event("refused by Keras while building")
        return
    if y is x:
        return
    model = keras.Model(x, y)
    try:
        analysis, rows = _saved_rows(model, tmp_path / f"chain{seed}.keras")
    except cnnscope.CnnscopeError as exc:
        # cnnscope refuses what Keras built only where its rule says why: an op across the batch axis, or a
        # slice that leaves an axis empty (Keras allows tensors of size 0)
        assert "batch" in str(exc) or "empty" in str(exc), str(exc)
        event(f"refused by cnnscope ({'batch axis' if 'batch' in str(exc) else 'empty axis'})")
        return
    _assert_same_shapes(model, rows)
    event("built by both")
