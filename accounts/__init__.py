"""People directory, accounts, registration, sign-in, lockout and passwords."""
