"""The normalized model and its serialized forms (private: the facade re-exports the names).

- ``run``: ``Run``, ``Timing``, ``RunError``, ``Artifact``, ``ArtifactKind`` (frozen attrs).
- ``construction``: ``slot_init``, the cheaper ``__init__`` those frozen classes get.
- ``control``: ``ControlResult``, what a cancel or resume came to, and its ``Outcome``.
- ``status``: ``RunStatus`` and ``StatusMap``, a provider's native words to ``RunStatus``.
- ``timestamps``: every timestamp a payload sends, as an aware UTC ``datetime``.
- ``encoding``: the batch encoder, ``Run`` straight to JSON bytes (no cattrs).
- ``serialization``: ``Run.to_dict`` / ``Run.from_dict`` (cattrs) and the JSON Schema.
- ``redaction``: the values of a provider's sensitive keys replaced, in runs and documents.
"""
