"""Providers and the plugins that declare them (private: the facade re-exports the names).

- ``provider``: the ``Provider`` declaration and its ``Auth`` part.
- ``fetching``: how one run is fetched (``RestFetch``, ``RelatedFetch``, ``McpFetch``).
- ``fields``: typed payload reads for mapping functions (``Fields``, and ``FieldReader``, which
  remembers the keys read so that ``extra`` is every key not read).
- ``notes``: ``FieldNote``, where a native field lands, declared once as data.
- ``host``: plugin discovery through entry points, per-plugin isolation, the registry
  (``PluginHost``, ``ProviderInfo``).
- ``normalize``: one payload to a ``Run``, with detection (``normalize``, ``apply``).
"""
