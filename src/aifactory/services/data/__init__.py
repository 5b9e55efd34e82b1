"""The data capability: datasets owned by projects, their immutable versions (uploaded in
encrypted chunks, resumable), replicas at sites under the dataset's residency policy, grants
to other projects, the transfer log, and the datasets jobs read.

- ``stores``: the object store of each site and the master keyring (``DataPlane``).
- ``datasets``: datasets, their policies, grants and transfer log (who may see what).
- ``uploads``: chunked, resumable uploads that end in a version.
- ``replicas``: reading a version back, staging it to another site, making it a job's input.
- ``placement``: the datasets a job reads, resolved at submission; their residency for the
  scheduler; pins the residency forbids.
"""
