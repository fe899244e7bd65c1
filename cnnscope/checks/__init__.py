"""Pre-training checks for CI: budgets, diffs between models, and the pytest fixture."""
