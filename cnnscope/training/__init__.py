"""Training with Keras and the bias/variance diagnosis. Every module here imports Keras lazily."""
