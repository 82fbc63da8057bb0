"""Two-factor devices, the second sign-in step and remembered browsers."""
