"""Simulated Kestrel Cloud: an OAuth2 token endpoint and the mTLS uplink stream server."""
