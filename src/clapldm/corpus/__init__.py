"""The offline corpus builder (``clapldm data build-corpus``): a separate product from the
runtime data code in :mod:`clapldm.data`.

- :mod:`clapldm.corpus.build` fetches and converts clips and writes the manifests.
- :mod:`clapldm.corpus.captions` writes captions from file names and exact metadata.
- :mod:`clapldm.corpus.sources` holds one collector per source (Debian sound packages and
  synthetic renders) and their word tables.

Training reads only the manifests it writes (:mod:`clapldm.data.manifest`). The runtime data
code never imports this package; only the ``clapldm data build-corpus`` hook in
:mod:`clapldm.data.cli` calls `clapldm.corpus.build.main_build_corpus`, which parses the
builder's own arguments.
"""
