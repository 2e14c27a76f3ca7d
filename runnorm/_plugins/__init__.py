"""Providers and the plugins that declare them (private: the facade re-exports the names).

- ``provider``: the ``Provider`` declaration and its ``Auth`` part.
- ``fetching``: how one run is fetched (``RestFetch``, ``RelatedFetch``, ``McpFetch``), routed
  by id prefix or by a kind call option (``fetch_target``, the one place that choice is made).
- ``capabilities``: what a provider declares beyond one run, as data: listing (``RestList``,
  ``McpList`` and their paging styles), ``RestControl`` and ``McpControl`` for cancel and
  resume, ``Artifacts`` (with ``ToolContent``); listing used by ``list_runs``, cancel,
  resume and artifacts by the live layer's ``control``, ``artifacts`` and ``download``.
- ``checks``: what registration checks about the fetch and capability declarations (path
  templates, routes, kinds, options, paging, outcomes), called by ``host``.
- ``fields``: typed payload reads for mapping functions (``Fields``, and ``FieldReader``, which
  remembers the keys read so that ``extra`` is every key not read).
- ``notes``: ``FieldNote``, where a native field lands, declared once as data.
- ``host``: plugin discovery through entry points, per-plugin isolation, the registry
  (``PluginHost``, ``ProviderInfo``).
- ``normalize``: one payload to a ``Run``, with detection (``normalize``, ``apply``).
"""
