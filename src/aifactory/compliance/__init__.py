"""The compliance core: the AI Act's rules as pure functions on plain data (no database, HTTP,
subprocess or clock), beside ``scheduling/``.

- ``risk``: a use case's answers to the Art. 5, Annex III and Art. 50 questions, and the class
  they give (prohibited, high-risk with its areas, transparency obligations, minimal), answer
  by answer.
- ``compute``: training compute of a model version from the jobs that produced it (hardware-
  based and 6·N·D), energy and carbon, cumulative compute along the lineage, the one-third
  rule for modifications, and the thresholds crossed by actual or forecast compute.

Every threshold, factor and period comes in as ``Rules`` (from the settings), never from here:
the regulation is amended (``../shared/reference/ai-act.md``)."""
