"""absl command-line apps (installed as `keras_seq.tools`)."""
