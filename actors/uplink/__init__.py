"""Kestrel Cloud uplink: stream client, OAuth2 tokens, mTLS, disk spool."""
