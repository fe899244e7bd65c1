"""The bottom layer: errors, units, the Stack every source reduces to, atomic writing, the documented
conventions, escaping and environment words. Imports nothing else of
cnnscope's, and never TensorFlow, Keras or JAX."""
