"""MACs and FLOPs of a layer that no rule covers, counted from its traced computation (docs/conventions.md).

The layer's stateless call is traced by `jax.make_jaxpr` over abstract values (`jax.ShapeDtypeStruct`) of
one sample and of its weights: no data, no weight is materialized. The jaxpr's operations are then counted
as fvcore counts a traced graph, with one table from primitive to a small counter:
- `dot_general`: output elements × the contracted size (MACs), as the rules count Dense and einsum;
- `conv_general_dilated`: output elements × input features per group × kernel positions (MACs);
- elementwise primitives: 1 FLOP per output element; reductions: 1 FLOP per input element;
- data movement (reshape, transpose, gather, slicing, broadcasting, casts): 0.
Sub-computations are followed: jit and custom-derivative calls once, `scan` bodies × their length, `cond`
the costliest branch, `while` bodies once (their trip count is a run-time value: `unseen` says so).
Needs Keras's JAX backend; imports JAX only when called.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

ELEMENTWISE = frozenset({
    "add", "sub", "mul", "div", "rem", "pow", "integer_pow", "max", "min", "neg", "abs", "sign", "exp", "exp2",
    "log", "log1p", "expm1", "tanh", "logistic", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh",
    "cosh", "asinh", "acosh", "atanh", "sqrt", "rsqrt", "cbrt", "square", "erf", "erfc", "erf_inv", "floor",
    "ceil", "round", "is_finite", "select_n", "clamp", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not",
    "xor", "nextafter", "logaddexp", "reciprocal",
})
REDUCTIONS = frozenset({
    "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_and", "reduce_or", "reduce_xor",
    "argmax", "argmin", "cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp",
})


@dataclass
class Counts:
    macs: int = 0
    flops: int = 0  # FLOPs other than multiply-accumulates
    unseen: list = field(default_factory=list)  # what could not be counted exactly (while loops' trip counts)
    kept: int | None = None  # elements per sample its backward keeps inside the layer (_kept_per_sample)

    def add(self, other: "Counts", times: int = 1) -> None:
        self.macs += times * other.macs
        self.flops += times * other.flops
        self.unseen += [u for u in other.unseen if u not in self.unseen]


def _elements(var) -> int:
    return prod(getattr(var.aval, "shape", ()))


def _dot_general(eqn) -> int:
    (contracting, _), _ = eqn.params["dimension_numbers"]
    lhs = eqn.invars[0].aval.shape
    return _elements(eqn.outvars[0]) * prod(lhs[d] for d in contracting)


def _convolution(eqn) -> int:
    rhs = eqn.invars[1].aval.shape
    spec = eqn.params["dimension_numbers"].rhs_spec  # (out features, in features per group, *spatial)
    return _elements(eqn.outvars[0]) * rhs[spec[1]] * prod(rhs[d] for d in spec[2:])


def _sub_jaxprs(eqn):
    """(jaxpr, times) for each sub-computation EQN runs; cond's branches come back as one costliest choice."""
    params = eqn.params
    if eqn.primitive.name == "cond":
        return [("branches", params["branches"])]
    if eqn.primitive.name == "scan":
        return [(params["jaxpr"], params["length"])]
    if eqn.primitive.name == "while":
        return [(params["body_jaxpr"], 1), (params["cond_jaxpr"], 1)]
    found = []
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        if key in params and (hasattr(params[key], "eqns") or hasattr(params[key], "jaxpr")):
            found.append((params[key], 1))
            break
    return found


def count_jaxpr(jaxpr) -> Counts:
    """The documented counts of a (closed) jaxpr."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    counts = Counts()
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            counts.macs += _dot_general(eqn)
        elif name == "conv_general_dilated":
            counts.macs += _convolution(eqn)
        elif name in ELEMENTWISE:
            counts.flops += _elements(eqn.outvars[0])
        elif name in REDUCTIONS:
            counts.flops += _elements(eqn.invars[0])
        for sub, times in _sub_jaxprs(eqn):
            if sub == "branches":
                branches = [count_jaxpr(branch) for branch in times]
                counts.add(max(branches, key=lambda c: (c.macs, c.flops)))
                continue
            if name == "while" and "while loop trip counts" not in counts.unseen:
                counts.unseen.append("while loop trip counts")
            counts.add(count_jaxpr(sub), times)
    return counts


class NotTraceable(Exception):
    """The layer's computation cannot be traced here (another backend, or its call fails abstractly)."""


def trace_layer(layer, args, kwargs) -> Counts:
    """Counts of one call of the built Keras LAYER per sample; ARGS and KWARGS hold KerasTensors of
    concrete shapes (batch None), constants and plain values, as the layer is called."""
    import keras

    if keras.backend.backend() != "jax":
        raise NotTraceable(f"tracing needs Keras's JAX backend, and this process runs {keras.backend.backend()}"
                           " (set KERAS_BACKEND=jax, with JAX installed: pip install 'cnnscope[compile]')")
    import jax

    leaves, tree = jax.tree_util.tree_flatten((args, kwargs), is_leaf=lambda v: isinstance(v, keras.KerasTensor))
    places = [i for i, leaf in enumerate(leaves) if isinstance(leaf, keras.KerasTensor)]
    if any(d is None for i in places for d in leaves[i].shape[1:]):
        raise NotTraceable("an input dimension is None")

    def call(trainable, non_trainable, tensors):
        filled = list(leaves)
        for i, tensor in zip(places, tensors):
            filled[i] = tensor
        call_args, call_kwargs = jax.tree_util.tree_unflatten(tree, filled)
        return layer.stateless_call(trainable, non_trainable, *call_args, **call_kwargs)[0]

    weights = [[jax.ShapeDtypeStruct(tuple(v.shape), v.dtype) for v in variables]
               for variables in (layer.trainable_variables, layer.non_trainable_variables)]
    try:
        counts = count_jaxpr(jax.make_jaxpr(call)(*weights, [abstract(leaves[i], 1) for i in places]))
        counts.kept = _kept_per_sample(call, weights, [leaves[i] for i in places])
    except Exception as exc:  # noqa: BLE001 (the layer's own code, whatever it raises)
        from ..core.errors import describe

        raise NotTraceable(describe(exc)) from None
    return counts


def _kept_per_sample(call, weights, tensors) -> int | None:
    """Elements per sample that the layer's backward keeps inside it: the residuals of its vector-Jacobian
    product (jax.ad_checkpoint's saved_residuals) other than its arguments, which are weights or other layers'
    outputs. Traced at batch 1 and 2, so that what does not grow with the batch is not counted per sample."""
    import jax
    from jax._src.ad_checkpoint import saved_residuals

    floating = [jax.numpy.issubdtype(t.dtype, jax.numpy.floating) for t in tensors]
    if not any(floating):
        return 0

    def kept(batch: int) -> int:
        # Integer inputs (token ids, masks) have no gradient: they enter as zeros of a few bytes a sample.
        fixed = {i: jax.numpy.zeros((batch, *t.shape[1:]), t.dtype) for i, t in enumerate(tensors) if not floating[i]}

        def differentiable(trainable, non_trainable, xs):
            given = iter(xs)
            return call(trainable, non_trainable, [fixed[i] if i in fixed else next(given) for i in range(len(tensors))])

        inputs = [abstract(t, batch) for t, f in zip(tensors, floating) if f]
        found = saved_residuals(differentiable, weights[0], weights[1], inputs)
        return sum(prod(aval.shape) for aval, why in found if not why.startswith("from the argument"))

    one, two = kept(1), kept(2)
    return max(0, two - one)


def abstract(value, batch: int):
    """A KerasTensor (batch None) as JAX's abstract value of BATCH samples."""
    import jax

    return jax.ShapeDtypeStruct((batch, *value.shape[1:]), value.dtype)
