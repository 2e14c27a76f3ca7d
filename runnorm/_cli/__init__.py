"""The ``runnorm`` command line (click), private: its interface is the commands themselves.

- ``app``: the ``runnorm`` group, which imports each command's module when it is used (so
  ``runnorm normalize`` never loads httpx).
- ``output``: exit codes, JSON and error output shared by the commands.
- ``normalize``: ``runnorm normalize``; ``live``: ``get`` and ``wait``; ``watch``:
  ``watch``; ``control``: ``cancel`` and ``resume``; ``artifacts``: ``artifacts`` (listing
  and ``--download``); ``info``: ``providers``; ``schema``: ``schema``.
- ``listing``: ``runnorm list``, through the batch writers; ``checkpoint``: its
  ``--checkpoint`` file (incremental sync).
"""
