"""Layers of keras-seq. Each public class lives in a module named after it."""
