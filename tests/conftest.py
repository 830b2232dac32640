"""Shared fixtures. The database and the cache are real; WooCommerce is the sandbox over HTTP."""
