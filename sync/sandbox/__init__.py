"""A WooCommerce-compatible store for tests, benchmarks, the demo and staging.

- ``catalog.SandboxCatalog``: the seeded, realistically messy catalog and its thread-safe mutations;
- ``server.SandboxServer``: WooCommerce REST v3 on loopback over http (OAuth 1.0a as WooCommerce checks
  it) or https (``tls.py``: Basic auth and query-string keys, as WooCommerce checks them when
  ``is_ssl()``), plus the ``/__sandbox__/`` JSON control interface, latency and fault injection;
- ``control.SandboxControl``: a small client for the control interface (other processes, benchmarks);
- ``manage.py woocommerce_sandbox``: run one from the command line.
"""
