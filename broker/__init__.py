"""A stand-in for the Sign-In Partner credential broker (Interac sign-in service / Sign In Canada).

A real OpenID Connect provider, built on Authlib's server classes, that CERS signs in with as it
would with the real broker: authorization code flow with PKCE (S256), state and nonce, RS256
id_tokens. Like the real broker it tells the service nothing about the person or the bank: the
id_token carries only a pairwise identifier (``sub``) for the service.
"""
