"""Live calls (private: the facade re-exports ``get``, ``wait``, ``cancel``, the clients, ...).

Sans-IO: fetching is written once, as generator *flows* that yield requests and sleeps, and
two *drivers* (sync, async) perform them. In dependency order:

- ``wire``: the steps a flow yields (``Request``, ``Sleep``) and the ``Response`` it gets.
- ``options``: call options (key, base URL, timeouts, caps) merged with the environment.
- ``retry``: the retry policy and the one retry loop; ``replies``: responses to values or
  exceptions, the key masked.
- ``rest``, ``mcp``: fetching one run over REST, or over MCP (JSON-RPC on Streamable HTTP);
  ``sse``: the incremental ``text/event-stream`` parser MCP replies are read with.
- ``flows``: ``get`` and ``wait`` as flows, whatever the transport; ``watching``: ``watch``
  (many runs, one flow that spawns their polls) and ``RunEvent``.
- ``listing``: ``list_runs`` as a flow per page over any declared listing (filters, order,
  early stop, limits), and incremental discovery (``Mark``, ``discover_flow``, the
  ``discovery`` of ``watch(since=...)``); ``paging``: how each paging style asks for the
  next page; ``when``: time bounds given by callers (``since``, ``until``), one reading.
- ``control``: ``cancel`` and ``resume`` (REST status codes, or an MCP tool read from
  ``tools/list``) to a ``ControlResult``.
- ``artifacts``: a run's artifacts as the provider lists them (inline, listings, paging,
  link expiry); ``download``: one artifact streamed to a file, checked, resumed, renewed.
- ``decoding``: response bodies decoded (gzip, deflate, stacked) under the size cap.
- ``http``: the only module that imports httpx; ``drivers``: sync and async I/O.
- ``client``: ``Client`` and ``AsyncClient``; ``api``: the module-level functions.
"""
