"""SafeCode: registered recovery channels and the single-use codes sent to them."""
