"""The Keras room: the only modules that import Keras (or JAX), each lazily, inside the function that needs it.

build (a Stack as a keras.Model), models (a live or saved keras.Model as a Stack), fallback (a rule for a layer
no rule covers, asked of Keras), tracing (a layer's arithmetic, counted from its jaxpr), compiled (XLA's plan
for one training step, from compiled_step, run in a child process with KERAS_BACKEND=jax). Inside cnnscope,
`import keras` is still Keras itself: imports are absolute.
"""
