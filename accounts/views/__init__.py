"""Views of the accounts app, one module per use case."""
