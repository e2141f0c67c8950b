"""The expected results CI checks: the explorer's manifest (:mod:`.explorer`, one JSON file
per model under ``models/manifest/``) and the proof manifest (:mod:`.proofs`, under
``properties/proofs/manifest/``)."""
