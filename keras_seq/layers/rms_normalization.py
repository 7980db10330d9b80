"""Root mean square layer normalization (the "layer norm" of T5)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_seq")
class RMSNormalization(keras.layers.Layer):
    """Root mean square normalization: rescales, does not re-center.

    For a feature vector `x` of size `d` (the `axis` of the input):

        rms(x) = sqrt(mean_i(x_i^2) + epsilon)
        y_i = g_i * x_i / rms(x)

    with a learned gain `g` (the weight `scale`, initialized to ones). Unlike
    `keras.layers.LayerNormalization` there is no mean subtraction and no bias:
    this is the layer normalization of T5 (Raffel et al.), and the RMSNorm of
    Zhang & Sennrich. The statistics are computed in float32 even when the
    layer runs in float16 (`mixed_float16`), and the output is cast back to the
    compute dtype. Keras masks pass through unchanged (each position is
    normalized on its own).

    Args:
        axis: int. The feature axis to normalize over. Defaults to `-1`.
        epsilon: float >= 0. Added to the mean square before the square root.
            Defaults to `1e-6` (T5's value).
        scale_initializer: initializer of the gain `g`. Defaults to `"ones"`.
        scale_regularizer: optional regularizer of the gain.
        scale_constraint: optional constraint of the gain.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    >>> import numpy as np
    >>> from keras_seq.layers import RMSNormalization
    >>> x = np.array([[3.0, 4.0]], dtype="float32")
    >>> y = RMSNormalization(epsilon=0.0)(x)  # rms = sqrt((9 + 16) / 2)
    >>> np.round(np.asarray(y, "float64"), 4).tolist()
    [[0.8485, 1.1314]]

    References:
        - [Zhang & Sennrich, 2019](https://arxiv.org/abs/1910.07467),
          Root Mean Square Layer Normalization.
        - [Raffel et al., 2020](https://arxiv.org/abs/1910.10683), T5, section 2.1.
    """

    def __init__(
        self,
        axis=-1,
        epsilon=1e-6,
        scale_initializer="ones",
        scale_regularizer=None,
        scale_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise ValueError(
                f"{self.__class__.__name__} {self.name!r}: `axis` must be an int, "
                f"got axis={axis!r}."
            )
        if not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(
                f"{self.__class__.__name__} {self.name!r}: `epsilon` must be a "
                f"number >= 0, got epsilon={epsilon!r}."
            )
        self.axis = axis
        self.epsilon = epsilon
        self.scale_initializer = keras.initializers.get(scale_initializer)
        self.scale_regularizer = keras.regularizers.get(scale_regularizer)
        self.scale_constraint = keras.constraints.get(scale_constraint)
        self.supports_masking = True

    def _feature_axis(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"{self.__class__.__name__} {self.name!r}: axis={self.axis} is out "
                f"of range for an input of shape {tuple(input_shape)} "
                f"(rank {rank})."
            )
        return self.axis % rank

    def build(self, input_shape):
        axis = self._feature_axis(input_shape)
        dim = input_shape[axis]
        if dim is None:
            raise ValueError(
                f"{self.__class__.__name__} {self.name!r}: the size of axis "
                f"{self.axis} must be known when the layer is built; got input "
                f"shape {tuple(input_shape)}."
            )
        self.scale = self.add_weight(
            name="scale",
            shape=(dim,),
            initializer=self.scale_initializer,
            regularizer=self.scale_regularizer,
            constraint=self.scale_constraint,
            autocast=False,
        )
        self._built_shape = tuple(input_shape)

    def call(self, inputs):
        axis = self._feature_axis(inputs.shape)
        dim = inputs.shape[axis]
        if dim is not None and dim != self.scale.shape[0]:
            raise ValueError(
                f"{self.__class__.__name__} {self.name!r}: was built for "
                f"{self.scale.shape[0]} features on axis {self.axis} (input "
                f"shape {self._built_shape}), got input shape "
                f"{tuple(inputs.shape)}."
            )
        compute_dtype = keras.backend.standardize_dtype(inputs.dtype)
        x = ops.cast(inputs, keras.backend.result_type(compute_dtype, "float32"))
        # mean_i(x_i^2), over the feature axis.
        mean_square = ops.mean(ops.square(x), axis=axis, keepdims=True)
        # x_i / sqrt(mean_i(x_i^2) + epsilon)
        y = x * ops.rsqrt(mean_square + self.epsilon)
        # g_i * ..., with g broadcast along the feature axis.
        shape = [1] * len(inputs.shape)
        shape[axis] = dim
        g = ops.reshape(ops.cast(self.scale, x.dtype), shape)
        return ops.cast(y * g, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "axis": self.axis,
                "epsilon": self.epsilon,
                "scale_initializer": keras.initializers.serialize(
                    self.scale_initializer
                ),
                "scale_regularizer": keras.regularizers.serialize(
                    self.scale_regularizer
                ),
                "scale_constraint": keras.constraints.serialize(self.scale_constraint),
            }
        )
        return config
