"""An example of a model kept outside hintspec: a two-slot virtqueue handshake."""
