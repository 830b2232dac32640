"""A WooCommerce-compatible store for tests, benchmarks, the demo and staging (dev- and test-only: nothing
the deployed service loads imports it; ``tests/test_architecture.py`` checks).

- ``catalog.SandboxCatalog``: the seeded, realistically messy catalog and its thread-safe mutations, one
  concern per module (``store``, ``shapes``, ``derived``, ``generation``, ``queries``, ``payloads``,
  ``mutations``);
- ``server.SandboxServer``: WooCommerce REST v3 on loopback over http (OAuth 1.0a as WooCommerce checks
  it) or https (``tls.py``: Basic auth and query-string keys, as WooCommerce checks them when
  ``is_ssl()``), plus the ``/__sandbox__/`` JSON control interface, latency and fault injection; the HTTP
  is ``transport.py``'s, the API ``rest*.py``'s, the control routes ``control_routes.py``'s;
- ``control.SandboxControl``: a small client for the control interface (other processes, benchmarks);
- ``manage.py woocommerce_sandbox``: run one from the command line.

``README.md`` lists every file and its job.
"""
