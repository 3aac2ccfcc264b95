"""A local OSS + STS + OIDC-issuer emulator that verifies signatures and fails like the real services."""
