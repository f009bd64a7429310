"""Encryption at rest: the segmented file format, streaming AEAD and envelope keys.

``format`` is the byte layout (``docs/spec/file-format.md``), ``stream`` encrypts and
decrypts it in constant memory, ``keys`` wraps each file's data key with a master key.
No Flask and no database here: the service layers call in with bytes and keys.
"""
