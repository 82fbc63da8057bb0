"""Append-only audit trail of security events."""
