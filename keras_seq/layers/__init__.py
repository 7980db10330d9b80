"""Layers of keras-seq. Each public class lives in a module named after it."""

from keras_seq.layers.bahdanau_attention import BahdanauAttention
from keras_seq.layers.feed_forward import FeedForward
from keras_seq.layers.gru import GRU
from keras_seq.layers.gru_cell import GRUCell
from keras_seq.layers.lstm import LSTM
from keras_seq.layers.lstm_cell import LSTMCell
from keras_seq.layers.luong_attention import LuongAttention
from keras_seq.layers.multi_head_attention import MultiHeadAttention
from keras_seq.layers.position_embedding import PositionEmbedding
from keras_seq.layers.positional_encoding import PositionalEncoding
from keras_seq.layers.relative_position_bias import RelativePositionBias
from keras_seq.layers.rms_normalization import RMSNormalization
from keras_seq.layers.scaled_dot_product_attention import (
    scaled_dot_product_attention,
)
from keras_seq.layers.simple_rnn import SimpleRNN
from keras_seq.layers.simple_rnn_cell import SimpleRNNCell
from keras_seq.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_seq.layers.transformer_encoder_block import TransformerEncoderBlock
