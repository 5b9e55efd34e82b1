"""Dataset bytes at rest: one narrow object-store interface (``base``) with a local-directory
and an S3-compatible adapter, and the encryption every chunk gets before it is stored
(``crypto``)."""
