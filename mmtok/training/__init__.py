"""Training jobs that made the bundled assets: the text model (``mmtok train-text``), the VQ model
(``mmtok train-vq``), the Debian packages they read, and the tiny decoder's round-trip training loop."""
