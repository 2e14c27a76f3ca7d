"""Providers and the plugins that declare them (private: the facade re-exports the names).

- ``provider``: the ``Provider`` declaration, its fetch and auth parts, and ``Fields``, the
  typed payload reads mapping functions use.
- ``host``: plugin discovery through entry points, per-plugin isolation, the registry
  (``PluginHost``, ``ProviderInfo``).
- ``normalize``: one payload to a ``Run``, with detection (``normalize``, ``apply``).
"""
