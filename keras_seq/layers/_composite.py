"""The base of our layers made of sublayers (private).

Sublayers are created in `__init__` and built in `build()`, as in keras-hub's
`TransformerEncoder` and Keras's own composite layers, so that
`MultiHeadAttention(64, 8).wq` exists right after construction and a subclass
can replace a sublayer in its `__init__` (`self.wq = MyDense(...)`): `build()`
builds whatever layer the attribute holds.

Keras tracks every layer ever assigned to an attribute; a replaced sublayer
would stay tracked (and listed in `layer._layers`) without being used.
`CompositeLayer.__setattr__` untracks the layer an attribute held before, so
only the layers in use are tracked and saved.
"""

import keras


class CompositeLayer(keras.layers.Layer):
    """A `keras.layers.Layer` whose replaced sublayers are untracked."""

    def __setattr__(self, name, value):
        tracker = self.__dict__.get("_tracker")
        old = self.__dict__.get(name)
        if (
            tracker is not None
            and isinstance(old, keras.layers.Layer)
            and old is not value
        ):
            # Keras's attribute tracker (its private API): forget the layer
            # this attribute held, so it is neither tracked nor saved.
            tracker.untrack(old)
        super().__setattr__(name, value)

    def build_sublayer(self, layer, *shapes):
        """Builds `layer` for `shapes` unless it is built already."""
        if not layer.built:
            layer.build(*shapes)
